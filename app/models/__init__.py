"""Every table, one file each. Importing this package registers them all on ``Base.metadata``."""

from app.models.account import Account, AccountKind, path_ids
from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.channel import Channel, ChannelKey
from app.models.channel_event import CHANNEL_EVENT_KINDS, ChannelEvent, ChannelEventKind
from app.models.ledger import BOOKS, TRANSACTION_KINDS, Book, LedgerEntry, LedgerTransaction, TransactionKind
from app.models.pricing import DEFAULT_MAX_OUTPUT_TOKENS, CatalogModel, ChannelPrice, PriceBook, PriceOverride
from app.models.usage_event import UsageEvent
from app.models.user import ROLES, Membership, Role, User

__all__ = [
    "BOOKS", "CHANNEL_EVENT_KINDS", "DEFAULT_MAX_OUTPUT_TOKENS", "ROLES", "TRANSACTION_KINDS", "Account", "AccountKind",
    "ApiKey", "Base", "Book", "CatalogModel", "Channel", "ChannelEvent", "ChannelEventKind", "ChannelKey",
    "ChannelPrice", "LedgerEntry", "LedgerTransaction", "Membership", "PriceBook", "PriceOverride", "Role",
    "TransactionKind", "UsageEvent", "User", "path_ids",
]
