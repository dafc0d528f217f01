"""ledger: double-entry bookkeeping in integer cents (a sample repository of swelake)."""
