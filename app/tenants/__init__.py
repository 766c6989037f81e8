"""Accounts, keys, ledger, pricing: the tenant model. Uses ``app.models`` and ``app.lib`` only."""
