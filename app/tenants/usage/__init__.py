"""Usage events (one row per relayed request, metadata only) and the reports over them."""

from app.tenants.usage.repository import insert_batch
from app.tenants.usage.schemas import UsageEventRow
from app.tenants.usage.service import USAGE_CSV_HEADER, usage_rows

__all__ = ["USAGE_CSV_HEADER", "UsageEventRow", "insert_batch", "usage_rows"]
