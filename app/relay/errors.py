"""Relay errors: an ``ir.Error`` raised anywhere on the request path and rendered in the caller's
protocol by the controller that received the request."""

from __future__ import annotations

from app.relay.protocols import ir


class RelayError(Exception):
    """``status``: pin the HTTP status instead of letting the caller's protocol choose it (each
    protocol has its own status for a kind of error, e.g. Anthropic's 529 for overloaded)."""

    def __init__(self, error: ir.Error, headers: dict[str, str] | None = None, status: int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = headers or {}
        self.status = status


def invalid_key() -> RelayError:
    return RelayError(ir.Error(kind="authentication", status=401, code="invalid_api_key",
                               message="Invalid API key. Check the key you passed in the request."))


def missing_key() -> RelayError:
    return RelayError(ir.Error(kind="authentication", status=401, code="missing_api_key",
                               message="No API key provided. Pass it as 'Authorization: Bearer <key>', "
                                       "'x-api-key', 'x-goog-api-key' or '?key='."))


def unknown_model(model: str) -> RelayError:
    return RelayError(ir.Error(kind="not_found", status=404, code="model_not_found", param="model",
                               message=f"The model '{model}' does not exist or is not served here."))


def forbidden_model(model: str) -> RelayError:
    return RelayError(ir.Error(kind="permission", status=403, code="model_not_allowed", param="model",
                               message=f"This API key is not allowed to use the model '{model}'."))


def unsupported_for_model(model: str, what: str) -> RelayError:
    return RelayError(ir.Error(kind="invalid_request", status=400, code="unsupported_endpoint", param="model",
                               message=f"The model '{model}' has no channel that supports {what}."))


def all_channels_failed(model: str, attempts: int, last: str) -> RelayError:
    return RelayError(ir.Error(
        kind="overloaded", status=503, code="upstream_unavailable",
        message=f"No upstream could serve '{model}' right now ({attempts} channel(s) tried; last: {last}). "
                "Please retry shortly."), status=503)


def not_sold(model: str) -> RelayError:
    return RelayError(ir.Error(kind="not_found", status=404, code="model_not_found", param="model",
                               message=f"The model '{model}' is not available to this account."))


def insufficient_quota() -> RelayError:
    return RelayError(ir.Error(
        kind="insufficient_quota", status=429, code="insufficient_quota",
        message="You exceeded your current quota: your balance cannot cover this request. "
                "Top up your account or lower max_tokens."))


def provider_out_of_credit() -> RelayError:
    """A reseller above the caller is out of credit. Says so without revealing anyone's balance."""
    return RelayError(ir.Error(
        kind="insufficient_quota", status=402, code="provider_out_of_credit",
        message="Your provider's account is out of credit, so this request cannot be served right now. "
                "Please contact your provider."))


def address_not_allowed() -> RelayError:
    return RelayError(ir.Error(kind="permission", status=403, code="ip_not_allowed",
                               message="This API key may not be used from your network address."))


def spend_cap_reached(which: str) -> RelayError:
    return RelayError(ir.Error(
        kind="insufficient_quota", status=429, code="spend_cap_reached",
        message=f"This API key has reached its {which} spend cap. Raise the cap or wait for the next period."))
