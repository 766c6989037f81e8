"""Every table, one file each. Importing this package registers them all on ``Base.metadata``."""

from app.models.account import Account, AccountKind
from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.channel import Channel, ChannelKey

__all__ = ["Account", "AccountKind", "ApiKey", "Base", "Channel", "ChannelKey"]
