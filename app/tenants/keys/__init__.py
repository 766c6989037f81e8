from app.tenants.keys.schemas import KeyContext
from app.tenants.keys.service import CreatedKey, authenticate, create_key, list_keys

__all__ = ["CreatedKey", "KeyContext", "authenticate", "create_key", "list_keys"]
