"""People and their roles on accounts (owner, staff, member). No login yet: this is the data."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.models import ROLES, Membership, User
from app.tenants.accounts import get_account
from app.tenants.users import repository
from app.tenants.users.schemas import MembershipView, UserView


def _user_view(row: User) -> UserView:
    return UserView(id=row.id, email=row.email, name=row.name, created_at=row.created_at)


def _membership_view(row: Membership) -> MembershipView:
    return MembershipView(user_id=row.user_id, account_id=row.account_id, role=row.role)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 320:
        raise InvalidInput(f"not an email address: {email!r}")
    return email


async def create_user(session: AsyncSession, email: str, name: str = "") -> UserView:
    """Create a user; emails are unique regardless of case. Does not commit."""
    email = normalise_email(email)
    if await repository.by_email(session, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    row = User(email=email, name=name.strip())
    session.add(row)
    await session.flush()
    return _user_view(row)


async def get_user_by_email(session: AsyncSession, email: str) -> UserView | None:
    """The user with this email (any case), if any."""
    row = await repository.by_email(session, normalise_email(email))
    return _user_view(row) if row else None


async def set_role(session: AsyncSession, user_id: int, account_id: int, role: str) -> MembershipView:
    """Give a user a role on an account, or change the role they have there. Does not commit."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if await repository.get(session, user_id) is None:
        raise NotFound(f"user {user_id} does not exist")
    await get_account(session, account_id)
    row = await repository.membership(session, user_id, account_id)
    if row is None:
        row = Membership(user_id=user_id, account_id=account_id, role=role)
        session.add(row)
    else:
        row.role = role
    await session.flush()
    return _membership_view(row)


async def memberships(session: AsyncSession, user_id: int) -> list[MembershipView]:
    """The accounts a user belongs to, with their role on each."""
    return [_membership_view(m) for m in await repository.memberships_of_user(session, user_id)]


async def members(session: AsyncSession, account_id: int) -> list[MembershipView]:
    """The users of one account, with their roles."""
    return [_membership_view(m) for m in await repository.members_of_account(session, account_id)]
