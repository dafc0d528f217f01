import pytest

from textkit.rle import decode, encode


def test_encode():
    assert encode("aaabccdddd") == "3a1b2c4d"


def test_encode_empty():
    assert encode("") == ""


def test_encode_single():
    assert encode("z") == "1z"


def test_decode():
    assert decode("3a1b2c4d") == "aaabccdddd"


def test_decode_multi_digit():
    assert decode("12x") == "x" * 12


def test_round_trip():
    text = "wwwwaaadexxxxxxywww"
    assert decode(encode(text)) == text


def test_decode_missing_length():
    with pytest.raises(ValueError):
        decode("a3b")


def test_decode_trailing_length():
    with pytest.raises(ValueError):
        decode("3a4")
