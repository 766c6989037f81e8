"""Pricing arithmetic to the micro-unit: ceil per token class, markup rounding, overrides, offers.
Expected amounts are worked out by hand in the comments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.lib.money import format_usd, parse_usd
from app.tenants.pricing import Prices, PriceSnapshot, Tokens, cost, marked_up, price_chain_costs
from app.tenants.pricing.table import CatalogItem, SellerBook

RECORDED = Path("/work/shared/fixtures/recorded")


def recorded(path: str) -> dict:
    return json.loads((RECORDED / path).read_text())


def test_each_token_class_is_rounded_up_separately() -> None:
    prices = Prices(input=400_000, output=1_600_000, cache_read=100_000, cache_write=500_000)
    # 1 input token at 0.40 USD/M = 0.4 micro -> 1; each class on its own: 0.4 + 1.6 + 0.1 + 0.5 -> 1 + 2 + 1 + 1
    assert cost(prices, Tokens(input_tokens=1)) == 1
    assert cost(prices, Tokens(input_tokens=1, output_tokens=1, cache_read_tokens=1, cache_write_tokens=1)) == 5
    assert cost(prices, Tokens()) == 0
    # 2,500,000 input tokens at 0.40 USD/M = exactly 1,000,000 micro (no rounding when exact).
    assert cost(prices, Tokens(input_tokens=2_500_000)) == 1_000_000
    assert cost(prices, Tokens(input_tokens=2_500_001)) == 1_000_001  # 1,000,000.4 -> up


def test_markup_rounds_each_class_up() -> None:
    base = Prices(input=333_333, output=1_000_003, cache_read=33_333, cache_write=416_667)
    # x1.2: 399,999.6 -> 400,000; 1,200,003.6 -> 1,200,004; 39,999.6 -> 40,000; 500,000.4 -> 500,001
    assert marked_up(base, 2000) == Prices(input=400_000, output=1_200_004, cache_read=40_000, cache_write=500_001)
    assert marked_up(base, 0) == base
    # x1.0001 on 1 micro per million: 1.0001 -> 2
    assert marked_up(Prices(input=1, output=0), 1) == Prices(input=2, output=0)


def test_openai_cached_tokens_fixture_priced_by_hand() -> None:
    usage = recorded("openai/chat_nonstream_usage_cached_tokens.json")["usage"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    tokens = Tokens(input_tokens=usage["prompt_tokens"] - cached, output_tokens=usage["completion_tokens"],
                    cache_read_tokens=cached)
    assert tokens == Tokens(input_tokens=120, output_tokens=2, cache_read_tokens=1024)
    # 0.40 / 1.60 / 0.10 USD per M: 120*0.4 = 48; 2*1.6 = 3.2 -> 4; 1024*0.1 = 102.4 -> 103
    prices = Prices(input=400_000, output=1_600_000, cache_read=100_000)
    assert cost(prices, tokens) == 48 + 4 + 103 == 155
    # +15 %: 0.46 / 1.84 / 0.115 -> 120*0.46 = 55.2 -> 56; 2*1.84 = 3.68 -> 4; 1024*0.115 = 117.76 -> 118
    assert cost(marked_up(prices, 1500), tokens) == 56 + 4 + 118 == 178


def test_openai_reasoning_tokens_are_billed_as_output() -> None:
    usage = recorded("openai/chat_nonstream_usage_reasoning_tokens.json")["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 128
    tokens = Tokens(input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"])
    assert tokens == Tokens(input_tokens=208, output_tokens=138)  # 138 includes the 128 reasoning tokens
    # 0.05 / 0.40 USD per M: 208*0.05 = 10.4 -> 11; 138*0.4 = 55.2 -> 56
    assert cost(Prices(input=50_000, output=400_000, cache_read=5_000), tokens) == 11 + 56 == 67


def test_anthropic_cache_read_fixture_priced_by_hand() -> None:
    usage = recorded("anthropic/messages_nonstream_cache_read.json")["usage"]
    tokens = Tokens(input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"],
                    cache_read_tokens=usage["cache_read_input_tokens"],
                    cache_write_tokens=usage["cache_creation_input_tokens"])
    assert tokens == Tokens(input_tokens=3, output_tokens=5, cache_read_tokens=1217, cache_write_tokens=0)
    # 3 / 15 / 0.30 / 3.75 USD per M: 3*3 = 9; 5*15 = 75; 1217*0.3 = 365.1 -> 366; 0
    prices = Prices(input=3_000_000, output=15_000_000, cache_read=300_000, cache_write=3_750_000)
    assert cost(prices, tokens) == 9 + 75 + 366 == 450


def test_gemini_cached_and_thoughts_fixture_priced_by_hand() -> None:
    meta = recorded("gemini/generate_nonstream_usage_cached_and_thoughts.json")["usageMetadata"]
    cached = meta["cachedContentTokenCount"]
    tokens = Tokens(input_tokens=meta["promptTokenCount"] - cached,
                    output_tokens=meta["candidatesTokenCount"] + meta["thoughtsTokenCount"], cache_read_tokens=cached)
    assert tokens == Tokens(input_tokens=334, output_tokens=889, cache_read_tokens=17379)  # 889 = 68 + 821 thoughts
    # 0.30 / 2.50 / 0.075 USD per M: 334*0.3 = 100.2 -> 101; 889*2.5 = 2222.5 -> 2223; 17379*0.075 = 1303.425 -> 1304
    assert cost(Prices(input=300_000, output=2_500_000, cache_read=75_000), tokens) == 101 + 2223 + 1304 == 3628


def snapshot(**kw: object) -> PriceSnapshot:
    return PriceSnapshot(catalog=kw.get("catalog", {}), upstream=kw.get("upstream", {}),  # type: ignore[arg-type]
                         books=kw.get("books", {}), overrides=kw.get("overrides", {}))  # type: ignore[arg-type]


BASE = Prices(input=333_333, output=1_000_003, cache_read=33_333, cache_write=416_667)
USAGE = Tokens(input_tokens=1234, output_tokens=567, cache_read_tokens=8901, cache_write_tokens=23)


def test_three_level_chain_prices_and_costs() -> None:
    # root 1 -> reseller 2 (+20 %) -> sub-reseller 3 (+10 %) -> customer 4
    snap = snapshot(catalog={"m": CatalogItem(BASE, 4096, True)},
                    books={1: SellerBook(5000, None), 2: SellerBook(2000, None), 3: SellerBook(1000, None)})
    levels = snap.level_prices((1, 2, 3, 4), "m")
    # The root sells at catalog prices (its own markup does not apply).
    assert levels == [BASE,
                      Prices(input=400_000, output=1_200_004, cache_read=40_000, cache_write=500_001),
                      # x1.1 of the line above: 440,000; 1,320,004.4 -> 1,320,005; 44,000; 550,001.1 -> 550,002
                      Prices(input=440_000, output=1_320_005, cache_read=44_000, cache_write=550_002)]
    # Level 1: 1234*0.333333 = 411.33 -> 412; 567*1.000003 = 567.0017 -> 568; 8901*0.033333 = 296.697 -> 297;
    #          23*0.416667 = 9.583 -> 10                                                       = 1287
    # Level 2: 493.6 -> 494; 680.402 -> 681; 356.04 -> 357; 11.500023 -> 12                     = 1544
    # Level 3: 542.96 -> 543; 748.4428 -> 749; 391.644 -> 392; 12.650046 -> 13                  = 1697
    assert price_chain_costs(levels, USAGE) == [1287, 1544, 1697]
    assert snap.chain_costs((1, 2, 3, 4), "m", USAGE) == [1287, 1544, 1697]
    assert snap.level_prices((1,), "m") == []  # the root pays no one
    assert snap.level_prices((1, 2), "m") == [BASE]


def test_overrides_win_over_markups_and_root_overrides_win_over_the_catalog() -> None:
    cheap = Prices(input=100, output=200)
    special = Prices(input=7, output=9, cache_read=1, cache_write=2)
    snap = snapshot(catalog={"m": CatalogItem(BASE, 4096, True)}, books={2: SellerBook(2000, None)},
                    overrides={(1, "m"): cheap, (2, "m"): special})
    assert snap.level_prices((1, 2, 3), "m") == [cheap, special]
    # A seller without an override marks up whatever it pays, override or not: 100*1.2, 200*1.2.
    snap = snapshot(catalog={"m": CatalogItem(BASE, 4096, True)}, books={2: SellerBook(2000, None)},
                    overrides={(1, "m"): cheap})
    assert snap.level_prices((1, 2, 3), "m") == [cheap, Prices(input=120, output=240)]


def test_a_model_is_usable_only_if_every_seller_above_offers_it() -> None:
    catalog = {"a": CatalogItem(BASE, 4096, True), "b": CatalogItem(BASE, 4096, True),
               "off": CatalogItem(BASE, 4096, False)}
    books = {1: SellerBook(0, frozenset({"a", "b"})), 2: SellerBook(0, frozenset({"a"}))}
    snap = snapshot(catalog=catalog, books=books)
    assert snap.level_prices((1, 2, 3), "a") is not None
    assert snap.level_prices((1, 2, 3), "b") is None  # reseller 2 does not offer it
    assert snap.level_prices((1, 2), "b") is not None  # ... but the root offers it to reseller 2
    assert snap.level_prices((1, 2), "off") is None  # disabled in the catalog
    assert snap.level_prices((1, 2), "unknown") is None  # not in the catalog
    assert snap.usable_models((1, 2, 3)) == ["a"]
    # The account's own offer does not restrict the account itself.
    assert snap.level_prices((1, 2), "a") is not None


def test_max_output_and_upstream_prices() -> None:
    snap = snapshot(catalog={"m": CatalogItem(BASE, 8192, True)}, upstream={(7, "m"): Prices(input=1, output=2)})
    assert snap.max_output("m") == 8192
    assert snap.max_output("unknown") == 4096
    assert snap.upstream_prices(7, "m") == Prices(input=1, output=2)
    assert snap.upstream_prices(8, "m") is None


@pytest.mark.parametrize(("text", "micro"), [("1", 1_000_000), ("0.000001", 1), ("2.5", 2_500_000), (3, 3_000_000),
                                             ("10.123456", 10_123_456), (" 0 ", 0)])
def test_usd_amounts_parse_exactly(text: str | int, micro: int) -> None:
    assert parse_usd(text) == micro


@pytest.mark.parametrize("text", ["0.0000001", "1.0000005", "abc", "NaN", "Infinity", "-1", "", 1.5, True])
def test_usd_amounts_refuse_sub_micro_floats_and_garbage(text: object) -> None:
    with pytest.raises(ValueError):
        parse_usd(text)  # type: ignore[arg-type]


def test_usd_formatting() -> None:
    assert [format_usd(v) for v in (0, 1, 1_500_000, -2_000_001)] == ["0.000000", "0.000001", "1.500000",
                                                                        "-2.000001"]
