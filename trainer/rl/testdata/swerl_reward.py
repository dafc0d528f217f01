"""The SWE-RL reward, computed independently of swelake's Go code, for its
test: per-file changes (hunk headers without git's section heading, and
hunk lines), Python's own difflib.SequenceMatcher(None, pred, oracle,
autojunk=False).ratio() per file, the mean over the union of files, -1 for
a prediction without a hunk (SWE-RL: facebookresearch/swe-rl
src/swerl/core/reward.py, compute_change_similarities / calculate_reward).

Reads JSON lines {"pred": ..., "oracle": ...}; writes one JSON number per
line, repr precision."""
import difflib
import json
import re
import sys

HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def changes(patch):
    """path -> normalised change text; None when the patch has no hunk."""
    out = {}
    path = None
    lines = patch.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            path = line.split(" b/", 1)[1] if " b/" in line else None
        elif line.startswith("+++ ") and not line[4:].startswith("/dev/null"):
            name = line[4:].split("\t")[0]
            path = name[2:] if name[:2] in ("a/", "b/") else name
        m = HUNK.match(line)
        if m:
            old = int(m.group(1)) if m.group(1) is not None else 1
            new = int(m.group(2)) if m.group(2) is not None else 1
            body = [m.group(0)]
            while old > 0 or new > 0:
                i += 1
                h = lines[i]
                if h.startswith("\\"):
                    continue
                if h.startswith("-"):
                    old -= 1
                    body.append(h)
                elif h.startswith("+"):
                    new -= 1
                    body.append(h)
                else:
                    old -= 1
                    new -= 1
                    body.append(" " + h[1:] if h.startswith(" ") else " " + h)
            text = "\n".join(body)
            out[path] = out[path] + "\n" + text if path in out else text
        i += 1
    return out or None


def reward(pred, oracle):
    o = changes(oracle)
    p = changes(pred)
    if p is None:
        return -1.0
    paths = set(o) | set(p)
    total = 0.0
    for path in paths:
        a, b = p.get(path, ""), o.get(path, "")
        if a and b:
            total += difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    return total / len(paths)


for line in sys.stdin:
    case = json.loads(line)
    if "a" in case:  # a bare ratio
        print(repr(difflib.SequenceMatcher(None, case["a"], case["b"], autojunk=False).ratio()))
    else:
        print(repr(reward(case["pred"], case["oracle"])))
    sys.stdout.flush()
