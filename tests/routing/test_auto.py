"""The ``auto`` policy: every example row of ``app.relay.routing.auto``'s docstring is a case."""

from __future__ import annotations

import time

import pytest

from app.relay.protocols import ir
from app.relay.routing import AutoPolicy, RoutingConfig, choose, resolve
from app.relay.routing import auto as auto_module
from tests.routing.factory import draws, user_request

POLICY = AutoPolicy(cheap="cheap-model", strong="strong-model", long="long-model",
                    context_windows={"strong-model": 64_000})


def documented_examples() -> list[tuple[str | None, str, str, str]]:
    """(prompt or None, extra, model, reason) for each row of the docstring's example table."""
    doc = auto_module.__doc__ or ""
    table = doc[doc.index("| prompt"):].splitlines()[2:]
    rows = []
    for line in table:
        if not line.startswith("|"):
            break
        prompt, extra, model, reason = (cell.strip() for cell in line.strip()[1:-1].split(" | "))
        rows.append((None if prompt == "(no parsed request)" else prompt[1:-1], extra, model, reason))
    return rows


EXAMPLES = documented_examples()


def build(prompt: str | None, extra: str) -> tuple[ir.Request | None, int | None]:
    if prompt is None:
        return None, None
    fields: dict[str, object] = {}
    input_tokens = None
    for item in filter(None, (part.strip() for part in extra.split(","))):
        if item.startswith("input_tokens="):
            input_tokens = int(item.removeprefix("input_tokens="))
        elif item == "thinking":
            fields["thinking"] = ir.Thinking(budget_tokens=1024)
        elif item == "tools":
            fields["tools"] = [ir.Tool(name="get_weather", parameters={
                "type": "object", "properties": {"city": {"type": "string"}}})]
        elif item == "tool_choice=none":
            fields["tool_choice"] = ir.ToolChoice(mode="none")
        else:
            raise AssertionError(f"unknown extra {item!r} in the documented examples")
    return user_request(prompt, **fields), input_tokens


def test_the_documented_table_covers_every_reason() -> None:
    assert len(EXAMPLES) >= 25
    assert {reason for *_, reason in EXAMPLES} == {"long_context", "code", "reasoning", "tools", "short_plain",
                                                  "default"}


@pytest.mark.parametrize(("prompt", "extra", "model", "reason"), EXAMPLES,
                         ids=[f"{reason}:{prompt}" for prompt, _, _, reason in EXAMPLES])
def test_documented_example(prompt: str | None, extra: str, model: str, reason: str) -> None:
    request, input_tokens = build(prompt, extra)
    assert choose(request, POLICY, input_tokens=input_tokens) == (model, reason)


def test_resolve_reports_the_auto_choice_and_its_reason() -> None:
    config = RoutingConfig(auto=POLICY)
    plan = resolve("auto", user_request("Prove that there are infinitely many primes."), config, rand=draws())
    assert (plan.model, plan.reason, plan.via, plan.requested) == ("strong-model", "reasoning", "auto", "auto")


def test_tokens_are_counted_locally_when_no_estimate_is_given() -> None:
    plain = "The quick brown fox jumps over the lazy dog. " * 300  # about 3,000 tokens
    assert choose(user_request(plain), POLICY) == ("strong-model", "default")
    assert choose(user_request("The quick brown fox."), POLICY) == ("cheap-model", "short_plain")


def test_code_in_the_system_prompt_or_a_tool_result_counts() -> None:
    with_system = user_request("Go on.", system=[ir.TextBlock(text="```sql\nSELECT 1 FROM t\n```")])
    assert choose(with_system, POLICY) == ("strong-model", "code")
    result = ir.ToolResultBlock(tool_call_id="c1", content=[ir.TextBlock(text='File "a.py", line 2')])
    with_result = ir.Request(model="auto", messages=[ir.Message(role="user", content=[result])])
    assert choose(with_result, POLICY) == ("strong-model", "code")


def test_a_prompt_larger_than_the_picked_models_window_goes_to_the_long_tier() -> None:
    policy = AutoPolicy(cheap="cheap-model", strong="strong-model", long="long-model",
                        context_windows={"cheap-model": 1_000})
    assert choose(user_request("Hello"), policy, input_tokens=900) == ("cheap-model", "short_plain")
    assert choose(user_request("Hello"), policy, input_tokens=1_500) == ("long-model", "long_context")
    # the cheap model's window does not matter when the rules pick the strong one
    assert choose(user_request("Hello"), policy, input_tokens=2_500) == ("strong-model", "default")


def test_long_text_is_examined_at_both_ends_only() -> None:
    filler = "Lorem ipsum dolor sit amet. " * 5_000  # 140,000 characters
    assert choose(user_request(filler + "```x```"), POLICY, input_tokens=30_000) == ("strong-model", "code")
    assert choose(user_request("```x```" + filler), POLICY, input_tokens=30_000) == ("strong-model", "code")
    middle = filler + "```x```" + filler
    assert choose(user_request(middle), POLICY, input_tokens=60_000) == ("strong-model", "default")


def test_content_scan_stays_fast_on_adversarial_text() -> None:
    for text in ("function (" * 50_000, "SELECT " * 60_000, "def " * 60_000, "\nat x(y" * 60_000):
        started = time.perf_counter()
        assert choose(user_request(text), POLICY, input_tokens=1_000) == ("cheap-model", "short_plain")
        assert time.perf_counter() - started < 0.05
