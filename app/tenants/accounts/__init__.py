from app.tenants.accounts.service import ensure_root_account

__all__ = ["ensure_root_account"]
