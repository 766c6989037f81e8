"""The relay: protocols, routing, upstream calls, the /v1 and /v1beta endpoints."""
