"""The account tree: root (operator) -> resellers (any depth) -> customers.

Each account stores its materialised path ("1/5/9/"), so the chain root..account is read from one
row and a subtree is one prefix query.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput, NotFound
from app.models import Account
from app.tenants.accounts import repository
from app.tenants.accounts.schemas import AccountView

ROOT_NAME = "Operator"
CHILD_KINDS = ("reseller", "customer")
#: Kinds that may have children (and so sell to them).
SELLER_KINDS = ("root", "reseller")
#: Length of ``accounts.path``, and room kept for one more id (a 64-bit id has 19 digits).
MAX_PATH = 255
MAX_ID_DIGITS = 19


async def _insert(session: AsyncSession, *, parent: Account | None, name: str, kind: str) -> Account:
    # The path holds the row's own id, known only after the INSERT: write a unique placeholder,
    # then the real path, in the same transaction.
    row = Account(name=name, kind=kind, parent_id=parent.id if parent else None,
                  path=f"new:{uuid.uuid4().hex}", depth=parent.depth + 1 if parent else 0)
    session.add(row)
    await session.flush()
    row.path = f"{parent.path if parent else ''}{row.id}/"
    await session.flush()
    return row


async def ensure_root_account(session: AsyncSession) -> Account:
    """Return the root (operator) account, creating it on a fresh database. Does not commit."""
    root = await repository.get_root(session)
    if root is None:
        root = await _insert(session, parent=None, name=ROOT_NAME, kind="root")
    return root


async def create_account(session: AsyncSession, parent_id: int | None, name: str, kind: str) -> AccountView:
    """Create a reseller or customer under ``parent_id`` (the root when None).

    The parent must be the root or a reseller: customers have no children.
    """
    if kind not in CHILD_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(CHILD_KINDS)}, got {kind!r}")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1 to 200 characters")
    parent = await ensure_root_account(session) if parent_id is None else await repository.get(session, parent_id)
    if parent is None:
        raise NotFound(f"account {parent_id} does not exist")
    if parent.kind not in SELLER_KINDS:
        raise InvalidInput(f"account {parent.id} is a {parent.kind} and cannot have sub-accounts")
    if len(parent.path) + MAX_ID_DIGITS + 1 > MAX_PATH:
        raise InvalidInput(f"account {parent.id} is too deep in the tree to have sub-accounts")
    return AccountView.of(await _insert(session, parent=parent, name=name, kind=kind))


async def get_account(session: AsyncSession, account_id: int) -> AccountView:
    """One account, or NotFound."""
    row = await repository.get(session, account_id)
    if row is None:
        raise NotFound(f"account {account_id} does not exist")
    return AccountView.of(row)


async def set_limits(session: AsyncSession, account_id: int, *, rpm: int | None, tpm: int | None,
                     max_concurrency: int | None) -> AccountView:
    """Set (or clear, with None) an account's rate limits. Does not commit."""
    for name, value in (("rpm", rpm), ("tpm", tpm), ("max_concurrency", max_concurrency)):
        if value is not None and value < 0:
            raise InvalidInput(f"{name} must not be negative")
    row = await repository.get(session, account_id)
    if row is None:
        raise NotFound(f"account {account_id} does not exist")
    row.rpm, row.tpm, row.max_concurrency = rpm, tpm, max_concurrency
    await session.flush()
    return AccountView.of(row)


ROUTING_STRATEGIES = ("priority", "cost", "latency", "balanced")


async def set_routing_strategy(session: AsyncSession, account_id: int, strategy: str | None) -> AccountView:
    """Override the channel-ordering strategy for an account's requests (None: follow the config)."""
    if strategy is not None and strategy not in ROUTING_STRATEGIES:
        raise InvalidInput(f"strategy must be one of {', '.join(ROUTING_STRATEGIES)} or null")
    row = await repository.get(session, account_id)
    if row is None:
        raise NotFound(f"account {account_id} does not exist")
    row.routing_strategy = strategy
    await session.flush()
    return AccountView.of(row)


async def list_accounts(session: AsyncSession, *, parent_id: int | None = None,
                        within: int | None = None) -> list[AccountView]:
    """Direct children of ``parent_id`` when given, else the whole subtree of ``within`` (the root's
    subtree, i.e. every account, when both are None)."""
    if parent_id is not None:
        await get_account(session, parent_id)
        return [AccountView.of(row) for row in await repository.children(session, parent_id)]
    top = await get_account(session, within) if within is not None else AccountView.of(
        await ensure_root_account(session))
    return [AccountView.of(row) for row in await repository.subtree(session, top.path)]


async def chain(session: AsyncSession, account_id: int) -> list[int]:
    """Account ids from the root down to ``account_id`` (inclusive)."""
    return list((await get_account(session, account_id)).chain)


def is_within(ancestor: Account | AccountView, account: Account | AccountView) -> bool:
    """True when ``account`` is ``ancestor`` or below it."""
    return account.path.startswith(ancestor.path)


async def visible_account(session: AsyncSession, viewer_id: int, account_id: int) -> AccountView:
    """``account_id`` if it lies in ``viewer_id``'s subtree. Accounts outside it are reported as
    missing, so a caller cannot probe which ids exist elsewhere in the tree."""
    viewer = await get_account(session, viewer_id)
    target = await repository.get(session, account_id)
    if target is None or not is_within(viewer, target):
        raise NotFound(f"account {account_id} does not exist")
    return AccountView.of(target)
