"""Usage reports: an account's (and its subtree's) requests, priced from its point of view."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.lib.money import format_usd
from app.models import UsageEvent
from app.tenants.accounts import get_account
from app.tenants.usage import repository

USAGE_CSV_HEADER = (
    "request_id", "created_at", "account_id", "key_id", "protocol", "op", "model_requested", "model_served",
    "channel_id", "stream", "status", "error_kind", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "spend_micro", "revenue_micro", "spend_usd", "revenue_usd",
    "latency_ms", "ttfb_ms", "client_disconnected", "cache_hit",
)


def _spend_and_revenue(event: UsageEvent, depth: int) -> tuple[int, int]:
    """What the viewing account (at ``depth``) paid its parent for this request, and what its
    child paid it. The root pays the upstream cost."""
    costs = event.costs or []
    spend = (event.upstream_cost or 0) if depth == 0 else (costs[depth - 1] if depth - 1 < len(costs) else 0)
    revenue = costs[depth] if depth < len(costs) else 0
    return spend, revenue


async def usage_rows(session: AsyncSession, account_id: int, start: datetime,
                     end: datetime) -> list[tuple[object, ...]]:
    """Requests made by ``account_id`` or anyone below it over [start, end), as CSV rows (see
    ``USAGE_CSV_HEADER``); spend and revenue are the account's own side of each request."""
    account = await get_account(session, account_id)
    rows: list[tuple[object, ...]] = []
    for e in await repository.for_subtree(session, account.path, start, end):
        spend, revenue = _spend_and_revenue(e, account.depth)
        rows.append((
            e.request_id, e.created_at.isoformat(), e.account_id, e.key_id, e.protocol, e.op, e.model_requested,
            e.model_served or "", e.channel_id, e.stream, e.status, e.error_kind or "", e.input_tokens,
            e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens, spend, revenue,
            format_usd(spend), format_usd(revenue), e.latency_ms, e.ttfb_ms, e.client_disconnected, e.cache_hit,
        ))
    return rows
