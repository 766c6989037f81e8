"""Funds on the request path: atomic holds across an account chain, mirrors of ledger balances."""

from app.tenants.funds.base import BalanceLoader, FundsStore, SettledLookup, Shortfall, WalletId
from app.tenants.funds.local import LocalFunds
from app.tenants.funds.redis_store import RedisFunds

__all__ = ["BalanceLoader", "FundsStore", "LocalFunds", "RedisFunds", "SettledLookup", "Shortfall", "WalletId"]
