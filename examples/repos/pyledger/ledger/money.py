"""Amounts as integer cents."""


def parse_amount(text):
    """Parse "12.34", "-0.5" or "1,234.00" into cents."""
    s = text.strip().replace(",", "")
    if not s:
        raise ValueError("empty amount")
    negative = s.startswith("-")
    if negative or s.startswith("+"):
        s = s[1:]
    whole, _, frac = s.partition(".")
    if not whole:
        whole = "0"
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError("not an amount: %r" % text)
    if len(frac) > 2:
        raise ValueError("more than two decimals: %r" % text)
    cents = int(whole) * 100 + int(frac.ljust(2, "0") or "0")
    if negative:
        return -cents
    return cents


def format_amount(cents):
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    whole, frac = divmod(cents, 100)
    return "%s%s.%02d" % (sign, "{:,}".format(whole), frac)


def split_evenly(cents, parts):
    """Split cents into parts amounts that differ by at most one cent and sum to cents."""
    if parts <= 0:
        raise ValueError("parts must be positive")
    base, rest = divmod(cents, parts)
    out = []
    for i in range(parts):
        if i < rest:
            out.append(base + 1)
        else:
            out.append(base)
    return out


def apply_rate(cents, basis_points):
    """cents * basis_points / 10000, rounded half away from zero."""
    value = cents * basis_points
    q, r = divmod(abs(value), 10000)
    if r * 2 >= 10000:
        q += 1
    if value < 0:
        return -q
    return q
