"""textkit: small text utilities (a sample repository of swelake)."""
