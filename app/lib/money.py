"""Money as integers: micro-units (1 USD = 1,000,000). Decimal strings in, integers out; no floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: Micro-units per US dollar.
MICRO = 1_000_000


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer ceiling division (for non-negative denominators), exact for any size."""
    return -(-numerator // denominator)


def parse_usd(value: str | int, *, allow_negative: bool = False) -> int:
    """A USD amount ("12.50", "0.000001", 3) -> micro-units.

    Raises ValueError for anything that is not an exact number of micro-units: floats are refused
    (they cannot carry money exactly), so are sub-micro amounts ("0.0000001") and, unless
    ``allow_negative``, amounts below zero.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a decimal string for a USD amount, got {type(value).__name__}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"not a USD amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a USD amount: {value!r}")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise ValueError(f"{value!r} is finer than one micro-unit (0.000001 USD)")
    if micro < 0 and not allow_negative:
        raise ValueError(f"a USD amount must not be negative, got {value!r}")
    return int(micro)


def format_usd(micro: int) -> str:
    """Micro-units -> "12.345678" (always six decimals, exact)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"
