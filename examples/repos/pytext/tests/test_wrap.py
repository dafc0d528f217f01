import pytest

from textkit.wrap import center, count_words, truncate, wrap


def test_wrap_basic():
    assert wrap("the quick brown fox jumps", 10) == ["the quick", "brown fox", "jumps"]


def test_wrap_exact_width():
    assert wrap("abc def", 7) == ["abc def"]


def test_wrap_long_word():
    assert wrap("a supercalifragilistic word", 5) == ["a", "supercalifragilistic", "word"]


def test_wrap_empty():
    assert wrap("", 10) == []


def test_wrap_bad_width():
    with pytest.raises(ValueError):
        wrap("x", 0)


def test_truncate_short():
    assert truncate("hello", 10) == "hello"


def test_truncate_cut():
    assert truncate("hello world", 8) == "hello..."


def test_truncate_tiny_width():
    assert truncate("hello", 2) == ".."


def test_center_even():
    assert center("ab", 6, "*") == "**ab**"


def test_center_odd():
    assert center("ab", 5) == " ab  "


def test_center_too_long():
    assert center("abcdef", 3) == "abcdef"


def test_count_words():
    assert count_words("The cat, the hat. THE end!") == {"the": 3, "cat": 1, "hat": 1, "end": 1}
