"""Run-length encoding: "aaab" <-> "3a1b"."""


def encode(text):
    if not text:
        return ""
    out = []
    run_char = text[0]
    run_len = 1
    for ch in text[1:]:
        if ch == run_char:
            run_len += 1
        else:
            out.append("%d%s" % (run_len, run_char))
            run_char = ch
            run_len = 1
    out.append("%d%s" % (run_len, run_char))
    return "".join(out)


def decode(data):
    out = []
    count = ""
    for ch in data:
        if ch.isdigit():
            count += ch
            continue
        if not count:
            raise ValueError("run without a length before %r" % ch)
        out.append(ch * int(count))
        count = ""
    if count:
        raise ValueError("trailing length %s without a character" % count)
    return "".join(out)
