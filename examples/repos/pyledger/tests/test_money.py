import pytest

from ledger.money import apply_rate, format_amount, parse_amount, split_evenly


@pytest.mark.parametrize("text,cents", [("12.34", 1234), ("-0.5", -50), ("1,234.00", 123400), ("7", 700), (".25", 25), ("+3.1", 310)])
def test_parse_amount(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize("bad", ["", "abc", "1.234", "1.2.3", "--4"])
def test_parse_amount_rejects(bad):
    with pytest.raises(ValueError):
        parse_amount(bad)


def test_format_amount():
    assert format_amount(123456789) == "1,234,567.89"


def test_format_negative():
    assert format_amount(-5) == "-0.05"


def test_format_zero():
    assert format_amount(0) == "0.00"


def test_split_evenly():
    assert split_evenly(100, 3) == [34, 33, 33]


def test_split_evenly_sums():
    for cents in range(0, 50):
        assert sum(split_evenly(cents, 7)) == cents


def test_split_evenly_bad_parts():
    with pytest.raises(ValueError):
        split_evenly(10, 0)


def test_apply_rate():
    assert apply_rate(10000, 250) == 250


def test_apply_rate_rounds_half_up():
    assert apply_rate(50, 100) == 1


def test_apply_rate_rounds_down():
    assert apply_rate(49, 100) == 0


def test_apply_rate_negative():
    assert apply_rate(-50, 100) == -1
