import pytest

from textkit.roman import from_roman, to_roman


@pytest.mark.parametrize("n,want", [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (40, "XL"), (1994, "MCMXCIV"), (3999, "MMMCMXCIX")])
def test_to_roman(n, want):
    assert to_roman(n) == want


@pytest.mark.parametrize("bad", [0, -1, 4000, 2.5])
def test_to_roman_range(bad):
    with pytest.raises(ValueError):
        to_roman(bad)


def test_from_roman():
    assert from_roman("MCMXCIV") == 1994


def test_from_roman_simple():
    assert from_roman("XXVII") == 27


def test_round_trip():
    for n in range(1, 400):
        assert from_roman(to_roman(n)) == n


def test_from_roman_rejects_non_canonical():
    with pytest.raises(ValueError):
        from_roman("IIII")


def test_from_roman_rejects_bad_digit():
    with pytest.raises(ValueError):
        from_roman("XIQ")


def test_from_roman_empty():
    with pytest.raises(ValueError):
        from_roman("")
