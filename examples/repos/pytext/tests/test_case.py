import pytest

from textkit.case import camel_case, kebab_case, pascal_case, snake_case, split_words


def test_split_snake():
    assert split_words("hello_world") == ["hello", "world"]


def test_split_camel():
    assert split_words("helloWorld") == ["hello", "world"]


def test_split_acronym():
    assert split_words("HTTPServerError") == ["http", "server", "error"]


def test_split_digits():
    assert split_words("version2Update") == ["version2", "update"]


def test_split_empty():
    assert split_words("") == []


def test_snake_case():
    assert snake_case("parseHTTPResponse") == "parse_http_response"


def test_kebab_case():
    assert kebab_case("Hello World") == "hello-world"


def test_camel_case():
    assert camel_case("user_id_field") == "userIdField"


def test_camel_case_empty():
    assert camel_case("__") == ""


@pytest.mark.parametrize("src,want", [("make-it-so", "MakeItSo"), ("x", "X"), ("already Pascal", "AlreadyPascal")])
def test_pascal_case(src, want):
    assert pascal_case(src) == want
