"""Roman numerals."""

_VALUES = [
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"),
    (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
    (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
]


def to_roman(n):
    if not isinstance(n, int) or n <= 0 or n >= 4000:
        raise ValueError("roman numerals cover 1..3999, got %r" % (n,))
    out = []
    for value, symbol in _VALUES:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)


def from_roman(s):
    if not s:
        raise ValueError("empty roman numeral")
    symbols = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(s):
        if ch not in symbols:
            raise ValueError("not a roman digit: %r" % ch)
        value = symbols[ch]
        if i + 1 < len(s) and symbols.get(s[i + 1], 0) > value:
            total -= value
        else:
            total += value
    if to_roman(total) != s:
        raise ValueError("not a canonical roman numeral: %r" % s)
    return total
