"""The operator JSON API under /api/v1 (thin controllers over the tenants and relay services)."""
