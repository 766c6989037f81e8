"""The rest of the inbound surface through the official SDKs: embeddings, completions, responses,
model listings filtered by the key, count_tokens, google-genai's default /v1 path, images,
Azure OpenAI channels and the built-in demo channel."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from tests.fakes import ProviderServer, echo_text, input_tokens
from tests.support.clients import ask_gemini
from tests.support.harness import Relay
from tests.support.upstreams import UPSTREAM_KEYS, add_upstream_channel

PNG_1PX = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def _model(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_embeddings_completions_and_responses_pass_through(relay: Relay,
                                                           upstreams: dict[str, ProviderServer]) -> None:
    model = _model("emb")
    add_upstream_channel(relay, "openai", upstreams["openai"], [model], model_map={model: "text-embedding-3-small"})
    client = relay.openai()
    emb = client.embeddings.create(model=model, input=["one", "two"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    assert upstreams["openai"].provider.requests[-1].body["model"] == "text-embedding-3-small"

    comp = client.completions.create(model=model, prompt="Say this is a test", max_tokens=20)
    assert comp.choices[0].text and comp.usage.prompt_tokens > 0

    resp = client.responses.create(model=model, input="Hello responses")
    assert resp.output_text and resp.usage.input_tokens > 0
    with client.responses.stream(model=model, input="Hello streamed responses") as stream:
        final = stream.get_final_response()
    assert final.output_text and final.usage.output_tokens > 0


def test_passthrough_only_endpoints_refuse_models_without_an_openai_channel(
        relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = _model("anth-only")
    add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [model])
    r = httpx.post(relay.base_url + "/v1/embeddings", json={"model": model, "input": "x"},
                   headers={"authorization": f"Bearer {relay.admin_key}"})
    assert r.status_code == 400 and "embeddings" in r.json()["error"]["message"]


def test_model_listings_show_only_what_the_key_may_use(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    allowed, hidden = _model("vis"), _model("hid")
    add_upstream_channel(relay, "openai", upstreams["openai"], [allowed, hidden])
    key = relay.create_key(models=[allowed])

    assert [m.id for m in relay.openai(key).models.list()] == [allowed]
    assert relay.openai(key).models.retrieve(allowed).id == allowed
    assert [m.id for m in relay.anthropic(key).models.list()] == [allowed]
    genai = relay.genai(key)
    assert [m.name for m in genai.models.list()] == [f"models/{allowed}"]
    r = httpx.get(f"{relay.base_url}/v1/models/{hidden}", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 404
    everything = {m.id for m in relay.openai().models.list()}
    assert {allowed, hidden} <= everything


def test_count_tokens_uses_an_anthropic_channel_or_counts_locally(relay: Relay,
                                                                   upstreams: dict[str, ProviderServer]) -> None:
    via_upstream, local = _model("ct-up"), _model("ct-local")
    add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [via_upstream])
    add_upstream_channel(relay, "openai", upstreams["openai"], [local])
    client = relay.anthropic()
    messages = [{"role": "user", "content": "count these five words please"}]
    counted = client.messages.count_tokens(model=via_upstream, messages=messages)
    assert counted.input_tokens == input_tokens(["count these five words please"])  # the upstream's own count
    assert upstreams["anthropic"].provider.requests[-1].path.endswith("/v1/messages/count_tokens")
    estimated = client.messages.count_tokens(model=local, messages=messages)
    assert 5 <= estimated.input_tokens <= 20


def test_google_genai_default_v1_path_works(relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = _model("g1")
    add_upstream_channel(relay, "anthropic", upstreams["anthropic"], [model])
    for stream in (False, True):
        answer = ask_gemini(relay, model, "hello over v1", stream=stream, api_version=None)
        assert answer.text == echo_text("hello over v1")


@pytest.mark.parametrize("upstream", ["anthropic", "gemini"])
def test_images_by_url_and_base64_reach_other_protocols(relay: Relay, upstreams: dict[str, ProviderServer],
                                                        upstream: str) -> None:
    model = _model("img")
    add_upstream_channel(relay, upstream, upstreams[upstream], [model])
    relay.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is in these?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}},
    ]}])
    sent = upstreams[upstream].provider.requests[-1].body
    if upstream == "anthropic":
        blocks = sent["messages"][0]["content"]
        images = [b["source"] for b in blocks if b["type"] == "image"]
        assert images == [{"type": "url", "url": "https://example.com/cat.png"},
                          {"type": "base64", "media_type": "image/png", "data": PNG_1PX}]
    else:
        parts = sent["contents"][0]["parts"]
        assert {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}} in parts
        assert {"inlineData": {"mimeType": "image/png", "data": PNG_1PX}} in parts


def test_azure_channel_uses_deployment_url_api_version_and_api_key_header(
        relay: Relay, upstreams: dict[str, ProviderServer]) -> None:
    model = _model("az")
    relay.add_channel(type="azure", base_url=upstreams["openai"].base_url, api_keys=[UPSTREAM_KEYS["openai"]],
                      models=[model], model_map={model: "my-gpt4o-deployment"}, api_version="2024-10-21")
    for stream in (False, True):
        kwargs = {"stream_options": {"include_usage": True}} if stream else {}
        r = relay.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": "hi azure"}],
                                                   stream=stream, **kwargs)
        text = "".join(c.choices[0].delta.content or "" for c in r if c.choices) if stream \
            else r.choices[0].message.content
        assert text == echo_text("hi azure")
        req = upstreams["openai"].provider.requests[-1]
        assert req.deployment == "my-gpt4o-deployment" and req.api_version == "2024-10-21"
        assert req.header("api-key") == UPSTREAM_KEYS["openai"] and req.header("authorization") is None


def test_demo_channel_answers_every_sdk_locally(relay: Relay) -> None:
    model = _model("demo")
    relay.add_channel(type="demo", models=[model])
    chat = relay.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": "hi demo"}])
    assert "demo channel" in chat.choices[0].message.content and "hi demo" in chat.choices[0].message.content
    assert chat.usage.prompt_tokens > 0 and chat.usage.completion_tokens > 0
    streamed = "".join(c.choices[0].delta.content or "" for c in relay.openai().chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi demo"}], stream=True))
    assert streamed == chat.choices[0].message.content
    msg = relay.anthropic().messages.create(model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert "demo channel" in msg.content[0].text and msg.usage.output_tokens > 0
    assert "demo channel" in ask_gemini(relay, model, "hi", stream=True).text
