"""Time in one place, so tests and billing agree on what 'now' is."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


def monotonic() -> float:
    return time.monotonic()


def parse_period(start: str, end: str) -> tuple[datetime, datetime]:
    """A reporting period from two ISO dates or datetimes -> [start, end) in UTC.

    A bare date as ``end`` includes that whole day ("2026-11-01".."2026-11-30" is November).
    Naive datetimes are taken as UTC. Raises ValueError on malformed input or an empty period.
    """
    lo = _instant(start, end_of_day=False)
    hi = _instant(end, end_of_day=True)
    if hi <= lo:
        raise ValueError(f"the period {start} .. {end} is empty")
    return lo, hi


def _instant(text: str, *, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:  # YYYY-MM-DD
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or datetime: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
