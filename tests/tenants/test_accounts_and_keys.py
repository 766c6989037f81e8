"""The account tree, users and roles, and API key options as the relay sees them (KeyContext)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from app.lib.clock import utcnow
from app.tenants import accounts, users
from app.tenants.accounts import AccountView
from app.tenants.keys import authenticate, create_key
from tests.tenants.conftest import build_tree


async def test_tree_paths_chains_and_subtrees(session: AsyncSession) -> None:
    t = await build_tree(session, {"R": (None, "reseller"), "S": ("R", "reseller"), "C": ("S", "customer"),
                                   "X": (None, "reseller"), "Y": ("X", "customer")})
    root = await accounts.ensure_root_account(session)
    r, s, c = t["R"], t["S"], t["C"]
    assert root.path == f"{root.id}/" and root.depth == 0
    assert (r.path, s.path, c.path) == (f"{root.id}/{r.id}/", f"{r.path}{s.id}/", f"{s.path}{c.id}/")
    assert (r.depth, s.depth, c.depth) == (1, 2, 3)
    assert await accounts.chain(session, c.id) == [root.id, r.id, s.id, c.id]
    assert c.chain == (root.id, r.id, s.id, c.id)
    assert accounts.is_within(r, c) and accounts.is_within(c, c) and not accounts.is_within(c, r)
    assert not accounts.is_within(t["X"], c)
    subtree = await accounts.list_accounts(session, within=r.id)
    assert [a.id for a in subtree] == [r.id, s.id, c.id]
    assert [a.id for a in await accounts.list_accounts(session, parent_id=r.id)] == [s.id]
    # Seen from X, R's customer does not exist.
    with pytest.raises(NotFound):
        await accounts.visible_account(session, t["X"].id, c.id)
    assert (await accounts.visible_account(session, r.id, c.id)).id == c.id


def test_a_subtree_prefix_never_matches_a_longer_id() -> None:
    # "1/2/" must not contain "1/20/": the trailing "/" makes the prefixes exact.
    def view(path: str) -> AccountView:
        return AccountView(id=0, parent_id=None, name="", kind="reseller", path=path, depth=path.count("/") - 1,
                           created_at=utcnow())

    assert not accounts.is_within(view("1/2/"), view("1/20/"))
    assert accounts.is_within(view("1/2/"), view("1/2/20/"))


async def test_customers_cannot_have_children_and_kinds_are_checked(session: AsyncSession) -> None:
    t = await build_tree(session, {"C": (None, "customer")})
    with pytest.raises(InvalidInput, match="cannot have sub-accounts"):
        await accounts.create_account(session, t["C"].id, "child", "customer")
    with pytest.raises(InvalidInput):
        await accounts.create_account(session, None, "x", "root")
    with pytest.raises(NotFound):
        await accounts.create_account(session, 10**9, "x", "customer")


async def test_users_and_roles(session: AsyncSession) -> None:
    t = await build_tree(session, {"R": (None, "reseller"), "C": ("R", "customer")})
    email = f"Ann.{t['R'].id}@Example.com"
    ann = await users.create_user(session, email, "Ann")
    assert ann.email == email.lower()
    with pytest.raises(Conflict):
        await users.create_user(session, email.upper())
    with pytest.raises(InvalidInput):
        await users.create_user(session, "not-an-email")
    await users.set_role(session, ann.id, t["R"].id, "owner")
    await users.set_role(session, ann.id, t["C"].id, "member")
    changed = await users.set_role(session, ann.id, t["C"].id, "staff")
    assert changed.role == "staff"
    assert [(m.account_id, m.role) for m in await users.memberships(session, ann.id)] == [
        (t["R"].id, "owner"), (t["C"].id, "staff")]
    assert [m.user_id for m in await users.members(session, t["R"].id)] == [ann.id]
    with pytest.raises(InvalidInput):
        await users.set_role(session, ann.id, t["R"].id, "admin")
    assert (await users.get_user_by_email(session, email)).id == ann.id  # type: ignore[union-attr]


async def test_key_context_carries_the_chain_and_options(session: AsyncSession) -> None:
    t = await build_tree(session, {"R": (None, "reseller"), "C": ("R", "customer")})
    created = await create_key(session, account_id=t["C"].id, name="c", models=["b", "a"],
                               ip_allowlist=["10.1.2.3/8", "2001:db8::1", "10.0.0.0/8"],
                               spend_cap_total=5_000_000, spend_cap_day=1_000_000, spend_cap_month=None,
                               rpm=60, tpm=100_000, max_concurrency=4, expires_at=utcnow() + timedelta(days=1))
    assert created.key.ip_allowlist == ["10.0.0.0/8", "2001:db8::1/128"]
    ctx = await authenticate(session, created.secret)
    assert ctx is not None
    assert ctx.chain == t["C"].chain and ctx.account_id == t["C"].id
    assert ctx.models == frozenset({"a", "b"}) and ctx.may_use("a") and not ctx.may_use("c")
    assert (ctx.spend_cap_total, ctx.spend_cap_day, ctx.spend_cap_month) == (5_000_000, 1_000_000, None)
    assert (ctx.rpm, ctx.tpm, ctx.max_concurrency) == (60, 100_000, 4)
    assert ctx.allows_ip("10.200.0.1") and ctx.allows_ip("2001:db8::1") and ctx.allows_ip("::ffff:10.0.0.9")
    assert not ctx.allows_ip("192.168.0.1") and not ctx.allows_ip("garbage")
    assert ctx.expires_at is not None and ctx.expires_at.tzinfo is not None


async def test_keys_on_the_root_keep_their_defaults(session: AsyncSession) -> None:
    root = await accounts.ensure_root_account(session)
    created = await create_key(session, account_id=root.id, name="plain")
    ctx = await authenticate(session, created.secret)
    assert ctx is not None and ctx.chain == (root.id,) and ctx.models is None
    assert ctx.ip_allowlist is None and ctx.allows_ip("203.0.113.9")
    assert (ctx.spend_cap_total, ctx.rpm, ctx.max_concurrency) == (None, None, None)


@pytest.mark.parametrize("options", [{"ip_allowlist": ["10.0.0.0/33"]}, {"ip_allowlist": []},
                                     {"spend_cap_day": -1}, {"rpm": 0}, {"max_concurrency": -2}])
async def test_bad_key_options_are_refused(session: AsyncSession, options: dict) -> None:
    root = await accounts.ensure_root_account(session)
    with pytest.raises(InvalidInput):
        await create_key(session, account_id=root.id, name="bad", **options)


async def test_keys_need_an_existing_account(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await create_key(session, account_id=10**9, name="orphan")
