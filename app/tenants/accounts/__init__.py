"""The account tree (root -> resellers -> customers)."""

from app.tenants.accounts.schemas import AccountView
from app.tenants.accounts.service import (
    chain,
    create_account,
    ensure_root_account,
    get_account,
    is_within,
    list_accounts,
    set_limits,
    set_routing_strategy,
    visible_account,
)

__all__ = [
    "AccountView", "chain", "create_account", "ensure_root_account", "get_account", "is_within", "list_accounts",
    "set_limits", "set_routing_strategy", "visible_account",
]
