"""CSV rendering for exports (RFC 4180 quoting, ``\\r\\n`` line ends)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence


def render(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
