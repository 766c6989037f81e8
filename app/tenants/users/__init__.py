"""Users and their roles on accounts."""

from app.tenants.users.schemas import MembershipView, UserView
from app.tenants.users.service import create_user, get_user_by_email, members, memberships, set_role

__all__ = ["MembershipView", "UserView", "create_user", "get_user_by_email", "members", "memberships", "set_role"]
