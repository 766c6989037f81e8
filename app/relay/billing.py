"""Steps 3 and 6 of the request path: reserve the worst case on every wallet of the account chain
before calling upstream, and settle the actual usage afterwards.

Prices come from the in-memory price table; holds from the funds store; the durable bill (one
balanced ledger transaction per level) and the usage event go through the group-commit writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.lib.clock import utcnow
from app.relay import errors, tokens
from app.relay.inbound import Inbound
from app.relay.outcome import Outcome
from app.relay.protocols import ir
from app.relay.settlement import Settlement, SettlementWriter
from app.tenants.funds import FundsStore, WalletId
from app.tenants.funds.caps import cap_wallets
from app.tenants.keys import KeyContext
from app.tenants.ledger import UsagePosting, post_usage_batch
from app.tenants.pricing import Prices, PriceTable, cost
from app.tenants.usage import UsageEventRow, insert_batch

log = logging.getLogger("waystation.billing")

@dataclass(slots=True)
class Bill:
    """One request's money: who pays whom at what prices, and what is held."""

    chain: tuple[int, ...]
    #: Prices each payer pays its parent (root's direct child first); empty for the root's own keys.
    prices: list[Prices]
    held: bool = False
    #: The key's spend-cap wallets for this request's periods (each debited with the account's cost).
    caps: tuple[str, ...] = ()


class BillPayload(msgspec.Struct, array_like=True):
    """What a settlement carries to the database (and through the journal): the ledger posting, if
    anything is billed, and the usage event."""

    posting: UsagePosting | None
    event: UsageEventRow


def _worst_case(prices: Prices, input_tokens: int, output_tokens: int) -> int:
    """The most a level can cost: every input token at the dearest input class, every output token
    at the output price."""
    dearest = max(prices.input, prices.cache_write, prices.cache_read)
    return cost(Prices(input=dearest, output=prices.output, cache_read=0, cache_write=0),
                ir.Usage(input_tokens=input_tokens, output_tokens=output_tokens))


def estimate_input(inbound: Inbound) -> int:
    if inbound.request is not None:
        return tokens.count_request(inbound.request)
    return tokens.count_text(inbound.body.decode("utf-8", "replace"))


def requested_output(inbound: Inbound) -> int | None:
    if inbound.request is not None:
        return inbound.request.max_tokens
    if inbound.op == "embeddings":
        return 0
    return None  # responses / completions: the model's cap


class Billing:
    def __init__(self, prices: PriceTable, funds: FundsStore, writer: SettlementWriter, hold_grace: float) -> None:
        self.prices = prices
        self.funds = funds
        self.writer = writer
        self.hold_grace = hold_grace

    async def open(self, key: KeyContext, inbound: Inbound, hold_seconds: float,
                   input_estimate: Callable[[], int]) -> Bill:
        """Price the request for every level of the key's chain and hold the worst case on every
        payer's wallet, all or nothing. Raises RelayError when the model is not sold to this
        account or a wallet cannot cover its part."""
        table = await self.prices.current()
        chain = key.chain or (key.account_id,)
        bill = Bill(chain=chain, prices=[])
        if len(chain) == 1:
            return bill  # the operator's own key: nobody above it to pay
        prices = table.level_prices(chain, inbound.model)
        if prices is None:
            raise errors.not_sold(inbound.model)
        bill.prices = prices
        output = requested_output(inbound)
        output = table.max_output(inbound.model) if output is None else output
        caps = cap_wallets(key.key_id, utcnow(), total=key.spend_cap_total, day=key.spend_cap_day,
                           month=key.spend_cap_month)
        floors = {wallet: cap for wallet, cap, _label in caps}

        def amounts(tokens_in: int) -> list[tuple[WalletId, int]]:
            worst = [(payer, _worst_case(p, tokens_in, output)) for payer, p in zip(chain[1:], prices, strict=True)]
            return worst + [(wallet, worst[-1][1]) for wallet, _cap, _label in caps]

        # First with a bound that needs no tokenizer; only a wallet it does not fit pays for counting.
        bound = tokens.bound_request(inbound.request, inbound.body)
        ttl = hold_seconds + self.hold_grace
        short = await self.funds.reserve(inbound.request_id, amounts(bound), ttl, floors)
        if short is not None and (counted := input_estimate()) < bound:
            short = await self.funds.reserve(inbound.request_id, amounts(counted), ttl, floors)
        if short is not None:
            payers = len(chain) - 1
            if short.index >= payers:
                raise errors.spend_cap_reached(caps[short.index - payers][2])
            if short.index == payers - 1:
                raise errors.insufficient_quota()
            raise errors.provider_out_of_credit()
        bill.held = True
        bill.caps = tuple(wallet for wallet, _cap, _label in caps)
        return bill

    async def release(self, bill: Bill, request_id: str) -> None:
        if bill.held:
            await self.funds.release(request_id)
            bill.held = False

    async def settle(self, bill: Bill, key: KeyContext, inbound: Inbound, outcome: Outcome) -> bool:
        """Post the bill for ``outcome.usage`` and the usage event; returns once durable."""
        usage = outcome.usage or ir.Usage()
        table = self.prices.snapshot
        costs = [cost(p, usage) for p in bill.prices]
        upstream = None
        if outcome.channel_id is not None and outcome.status < 400:
            # A channel's cost may be priced under the upstream name or the public one.
            up = table.upstream_prices(outcome.channel_id, outcome.upstream_model or inbound.model)
            if up is None and outcome.upstream_model not in (None, inbound.model):
                up = table.upstream_prices(outcome.channel_id, inbound.model)
            if up is not None:
                upstream = (outcome.channel_id, cost(up, usage))
        billable = outcome.usage is not None and (costs or upstream)
        posting = UsagePosting(request_id=inbound.request_id, chain=bill.chain, level_costs=tuple(costs),
                               upstream=upstream, model=inbound.model) if billable else None
        event = UsageEventRow(
            request_id=inbound.request_id, created_at=utcnow(), account_id=key.account_id, key_id=key.key_id,
            chain=list(bill.chain), protocol=inbound.protocol, op=inbound.op,
            model_requested=inbound.requested_model or inbound.model,
            model_served=outcome.upstream_model, channel_id=outcome.channel_id, stream=inbound.stream,
            status=outcome.status, error_kind=outcome.error_kind, input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens, reasoning_tokens=usage.reasoning_tokens,
            costs=costs if billable else [], upstream_cost=upstream[1] if upstream else None,
            latency_ms=int(outcome.latency_ms), ttfb_ms=int(outcome.ttfb_ms) if outcome.ttfb_ms is not None else None,
            client_disconnected=outcome.client_disconnected, cache_hit=outcome.cache_hit,
        )
        outcome.cost = costs[0] if billable and costs else None
        outcome.upstream_cost = upstream[1] if upstream else None
        debits: dict[WalletId, int] = {}
        if billable and costs:
            debits = {payer: c for payer, c in zip(bill.chain[1:], costs, strict=True)}
            debits.update(dict.fromkeys(bill.caps, costs[-1]))
        ok = await self.writer.submit(Settlement(inbound.request_id, debits, BillPayload(posting, event)))
        bill.held = False
        if not ok:
            log.error("bill not written; its hold will expire unbilled", extra={"request_id": inbound.request_id})
        return ok


def effective_usage(reported: ir.Usage | None, input_estimate: int, generated: str) -> ir.Usage:
    """What to bill for a response without a complete usage report (a broken stream, a body without
    usage): the input it reported (or our estimate) plus the output generated so far, counted locally."""
    counted = tokens.count_text(generated)
    if reported is None:
        return ir.Usage(input_tokens=input_estimate, output_tokens=counted)
    return ir.Usage(input_tokens=reported.input_tokens, cache_read_tokens=reported.cache_read_tokens,
                    cache_write_tokens=reported.cache_write_tokens, reasoning_tokens=reported.reasoning_tokens,
                    output_tokens=max(reported.output_tokens, counted))


async def post_settlements(session: AsyncSession, batch: Sequence[Settlement]) -> None:
    """The writer's batch: every ledger posting and usage event of ``batch`` in one transaction."""
    postings = [s.payload.posting for s in batch if s.payload.posting is not None]
    if postings:
        await post_usage_batch(session, postings)
    await insert_batch(session, [s.payload.event for s in batch])
