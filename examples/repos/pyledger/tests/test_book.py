import pytest

from ledger.book import Book, LedgerError


@pytest.fixture
def book():
    b = Book()
    b.open("cash", "asset")
    b.open("sales", "income")
    b.open("rent", "expense")
    b.open("loan", "liability")
    return b


def test_open_twice(book):
    with pytest.raises(LedgerError):
        book.open("cash", "asset")


def test_open_bad_kind(book):
    with pytest.raises(LedgerError):
        book.open("misc", "other")


def test_post_and_balance(book):
    book.post("2024-01-02", "sale", [("cash", 1000), ("sales", -1000)])
    assert book.balance("cash") == 1000
    assert book.balance("sales") == -1000


def test_post_returns_index(book):
    assert book.post("2024-01-02", "a", [("cash", 1), ("sales", -1)]) == 0
    assert book.post("2024-01-03", "b", [("cash", 1), ("sales", -1)]) == 1


def test_unbalanced(book):
    with pytest.raises(LedgerError):
        book.post("2024-01-02", "oops", [("cash", 1000), ("sales", -999)])


def test_single_posting(book):
    with pytest.raises(LedgerError):
        book.post("2024-01-02", "half", [("cash", 0)])


def test_zero_posting(book):
    with pytest.raises(LedgerError):
        book.post("2024-01-02", "zero", [("cash", 0), ("sales", 0)])


def test_unknown_account(book):
    with pytest.raises(LedgerError):
        book.post("2024-01-02", "x", [("bank", 5), ("sales", -5)])


def test_balance_until(book):
    book.post("2024-01-02", "a", [("cash", 100), ("sales", -100)])
    book.post("2024-02-02", "b", [("cash", 50), ("sales", -50)])
    assert book.balance("cash", until="2024-01-31") == 100
    assert book.balance("cash", until="2024-02-02") == 150


def test_balance_unknown(book):
    with pytest.raises(LedgerError):
        book.balance("bank")


def test_trial_balance_sums_to_zero(book):
    book.post("2024-01-02", "sale", [("cash", 700), ("sales", -700)])
    book.post("2024-01-03", "rent", [("rent", 300), ("cash", -300)])
    tb = book.trial_balance()
    assert sum(tb.values()) == 0
    assert list(tb) == ["cash", "loan", "rent", "sales"]


def test_net_income(book):
    book.post("2024-01-02", "sale", [("cash", 700), ("sales", -700)])
    book.post("2024-01-03", "rent", [("rent", 300), ("cash", -300)])
    assert book.net_income() == 400


def test_history_running_balance(book):
    book.post("2024-01-02", "in", [("cash", 700), ("sales", -700)])
    book.post("2024-01-03", "out", [("rent", 300), ("cash", -300)])
    assert book.history("cash") == [("2024-01-02", "in", 700, 700), ("2024-01-03", "out", -300, 400)]
