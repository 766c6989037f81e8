"""The tenant set-up every relay run uses, made through the operator API as an operator would:

    root (operator) -> reseller (+20 %) -> sub-reseller (+10 %) -> customer -> API key

with catalog prices and a channel cost for each benchmark model, ample credit on every wallet of
the chain, and rate limits (key, customer account, reseller subtree) high enough that the limiter
runs on every request but never refuses one.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

#: Public model -> what the upstream is asked for (the suffix sets the stream's shape, see upstream.py).
NON_STREAM = "bench-chat"
STREAM = "bench-stream"
LONG = "bench-long"

GENEROUS = {"rpm": 1_000_000, "tpm": 2_000_000_000}


@dataclass
class Tenancy:
    customer_key: str
    accounts: dict[str, int]
    channel_id: int
    notes: list[str]


def _ok(r: httpx.Response) -> dict:
    if r.status_code >= 300:
        raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text}")
    return r.json()


def set_up(base_url: str, admin_key: str, upstream_base: str, *, stream_chunks: int, stream_interval_ms: int,
           long_chunks: int, long_interval_ms: int) -> Tenancy:
    api = httpx.Client(base_url=base_url + "/api/v1", timeout=30, headers={"authorization": f"Bearer {admin_key}"})
    with api:
        model_map = {STREAM: f"{STREAM}-c{stream_chunks}-i{stream_interval_ms}",
                     LONG: f"{LONG}-c{long_chunks}-i{long_interval_ms}"}
        channel = _ok(api.post("/channels", json={
            "name": "bench-upstream", "type": "openai", "base_url": upstream_base + "/v1",
            "api_keys": ["sk-bench-upstream"], "models": [NON_STREAM, STREAM, LONG], "model_map": model_map}))
        for model in (NON_STREAM, STREAM, LONG):
            _ok(api.put(f"/prices/{model}", json={"input_usd": "1", "output_usd": "2", "max_output_tokens": 1024}))
            # The relay looks a channel's cost up under the model name it sends upstream (the mapped
            # one): priced under the public name, a mapped model's upstream cost would go unrecorded.
            upstream_model = model_map.get(model, model)
            _ok(api.put(f"/channels/{channel['id']}/prices/{upstream_model}",
                        json={"input_usd": "0.5", "output_usd": "1"}))

        def account(kind: str, name: str, parent: int | None) -> int:
            body = {"name": name, "kind": kind} | ({"parent_id": parent} if parent else {})
            return _ok(api.post("/accounts", json=body))["id"]

        reseller = account("reseller", "bench-reseller", None)
        sub = account("reseller", "bench-sub-reseller", reseller)
        customer = account("customer", "bench-customer", sub)
        _ok(api.put(f"/accounts/{reseller}/markup", json={"markup_bps": 2000}))
        _ok(api.put(f"/accounts/{sub}/markup", json={"markup_bps": 1000}))
        for account_id, usd in ((reseller, 1_000_000), (sub, 500_000), (customer, 100_000)):
            _ok(api.post(f"/accounts/{account_id}/credit", json={"amount_usd": usd, "reason": "bench"}))
        notes: list[str] = []
        for account_id in (reseller, customer):  # subtree and account limits, on top of the key's
            r = api.put(f"/accounts/{account_id}/limits", json=GENEROUS)
            if r.status_code >= 300 and not notes:
                notes.append(f"PUT /api/v1/accounts/{{id}}/limits answered {r.status_code} {r.text[:80]}: account "
                             f"and subtree limits are not set, only the key's own limits run")
        key = _ok(api.post("/keys", json={"name": "bench-customer", "account_id": customer, **GENEROUS}))
    return Tenancy(customer_key=key["secret"], accounts={"reseller": reseller, "sub_reseller": sub,
                                                          "customer": customer}, channel_id=channel["id"],
                   notes=notes)


def balance(base_url: str, admin_key: str, account_id: int) -> int:
    r = httpx.get(f"{base_url}/api/v1/accounts/{account_id}/balance", timeout=30,
                  headers={"authorization": f"Bearer {admin_key}"})
    return _ok(r)["balance"]


def chat_body(model: str, *, stream: bool = False) -> str:
    stream_part = ',"stream":true' if stream else ""
    return ('{"model":"' + model + '","messages":[{"role":"user","content":"Say hello to the benchmark."}],'
            '"max_tokens":64' + stream_part + '}')
