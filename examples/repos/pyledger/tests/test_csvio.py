import pytest

from ledger.csvio import parse_lines


def test_parse_groups_postings():
    txs = parse_lines(["2024-01-02,sale,cash,10.00", "2024-01-02,sale,sales,-10.00"])
    assert txs == [("2024-01-02", "sale", [("cash", 1000), ("sales", -1000)])]


def test_parse_two_transactions():
    txs = parse_lines(["d1,a,cash,1", "d1,a,sales,-1", "d2,b,cash,2", "d2,b,sales,-2"])
    assert [t[1] for t in txs] == ["a", "b"]


def test_parse_skips_comments_and_blanks():
    txs = parse_lines(["# header", "", "d1,a,cash,1", "d1,a,sales,-1"])
    assert len(txs) == 1


def test_parse_bad_field_count():
    with pytest.raises(ValueError, match="line 2"):
        parse_lines(["d1,a,cash,1", "d1,a,sales"])


def test_parse_bad_amount():
    with pytest.raises(ValueError):
        parse_lines(["d1,a,cash,x"])
