"""Reading transactions from "date,memo,account,amount" lines."""

from ledger.money import parse_amount


def parse_lines(lines):
    """Group consecutive lines with the same date and memo into transactions."""
    txs = []
    current = None
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4:
            raise ValueError("line %d: want 4 fields, got %d" % (lineno, len(fields)))
        date, memo, account, amount = fields
        key = (date, memo)
        if current is None or current[0] != key:
            current = (key, [])
            txs.append(current)
        current[1].append((account, parse_amount(amount)))
    return [(key[0], key[1], postings) for key, postings in txs]
