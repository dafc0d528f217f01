"""Accounts and balanced transactions."""


class LedgerError(Exception):
    pass


class Book:
    def __init__(self):
        self.accounts = {}
        self.transactions = []

    def open(self, name, kind):
        if kind not in ("asset", "liability", "income", "expense", "equity"):
            raise LedgerError("unknown account kind %r" % kind)
        if name in self.accounts:
            raise LedgerError("account %s already open" % name)
        self.accounts[name] = kind

    def post(self, date, memo, postings):
        """Record a transaction: postings is a list of (account, cents) summing to zero."""
        if len(postings) < 2:
            raise LedgerError("a transaction needs at least two postings")
        total = 0
        for account, cents in postings:
            if account not in self.accounts:
                raise LedgerError("no account %s" % account)
            if cents == 0:
                raise LedgerError("zero posting to %s" % account)
            total += cents
        if total != 0:
            raise LedgerError("transaction does not balance: off by %d" % total)
        self.transactions.append((date, memo, list(postings)))
        return len(self.transactions) - 1

    def balance(self, account, until=None):
        if account not in self.accounts:
            raise LedgerError("no account %s" % account)
        total = 0
        for date, _, postings in self.transactions:
            if until is not None and date > until:
                continue
            for name, cents in postings:
                if name == account:
                    total += cents
        return total

    def trial_balance(self):
        return {name: self.balance(name) for name in sorted(self.accounts)}

    def net_income(self):
        total = 0
        for name, kind in self.accounts.items():
            if kind == "income":
                total -= self.balance(name)
            elif kind == "expense":
                total -= self.balance(name)
        return total

    def history(self, account):
        out = []
        running = 0
        for date, memo, postings in self.transactions:
            for name, cents in postings:
                if name == account:
                    running += cents
                    out.append((date, memo, cents, running))
        return out
