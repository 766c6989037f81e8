"""The ``model: "auto"`` policy: choose a tier (cheap, strong, long) from the request content.

Rules, first match wins (tiers and thresholds come from ``AutoPolicy``):

| # | reason       | when                                                                  | tier   |
|---|--------------|-----------------------------------------------------------------------|--------|
| 1 | long_context | input tokens > long_threshold (100,000), or > the pick's window [1]   | long   |
| 2 | code         | the text contains code or a stack trace [2]                           | strong |
| 3 | reasoning    | thinking is requested, or the text asks for reasoning or maths [3]    | strong |
| 4 | tools        | the request declares tools and tool_choice is not "none"              | strong |
| 5 | short_plain  | input tokens < short_threshold (2,000)                                | cheap  |
| 6 | default      | anything else, including operations with no parsed request            | strong |

[1] The context window configured in ``context_windows`` for the model rules 2-6 would pick.
[2] A ``` fence; a definition (``def f(``, ``class X:`` / ``class X(`` / ``class X {`` /
   ``class X extends``, ``function f(...) {``); ``#include``; upper-case ``SELECT ... FROM``; a
   line starting with ``import x``, ``from x import y`` or ``const/let/var x =``; a stack trace
   (``Traceback (most recent call last)``, ``File "x.py", line 3``, ``at f(Main.java:12)``, an
   exception name such as ``TypeError:``). Prose like "class of ships" or "select one from" is
   not code.
[3] Any case: "step by step", "step-by-step", "prove", "proof", "theorem", "lemma", "derive",
   "derivation", "reason through", "think carefully", "think hard", "show your work",
   "solve for", "integral", "equation"; or LaTeX ``\\frac``, ``\\int``, ``\\sum``, ``\\sqrt``, ``$$``.

The text examined is the system prompt and the text of every message (tool results included),
joined in order; past 32,768 characters only its first and last 16,384 are examined. That bounds
the work per request; a prompt that long is normally far above ``short_threshold``, where every
content rule picks the strong tier, so at most the reported reason changes. Images only count
towards the token estimate, which is ``input_tokens`` when the caller already has one (the
reservation counts it), otherwise ``app.relay.tokens.count_request``.

Examples (the test suite runs each row exactly) with ``AutoPolicy(cheap="cheap-model",
strong="strong-model", long="long-model", context_windows={"strong-model": 64_000})``; the prompt
is the only user message, ``extra`` says what else the request has:

| prompt                                                   | extra                   | model        | reason       |
|----------------------------------------------------------|-------------------------|--------------|--------------|
| "Summarise this report."                                 | input_tokens=120000     | long-model   | long_context |
| "Summarise this report."                                 | input_tokens=70000      | long-model   | long_context |
| "Why does ```print(1/0)``` fail?"                        | input_tokens=150000     | long-model   | long_context |
| "Summarise this report."                                 | input_tokens=50000      | strong-model | default      |
| "Summarise this report."                                 | input_tokens=5000       | strong-model | default      |
| "Why does ```print(1/0)``` fail?"                        |                         | strong-model | code         |
| "def add(a, b): return a - b  -- what is wrong?"         |                         | strong-model | code         |
| "class Stack: is this a good name?"                      |                         | strong-model | code         |
| "What does function f(x) { return x } return?"           |                         | strong-model | code         |
| "#include <stdio.h> fails to compile"                    |                         | strong-model | code         |
| "Why is SELECT name FROM users WHERE id = 1 slow?"       |                         | strong-model | code         |
| "Traceback (most recent call last): what happened?"      |                         | strong-model | code         |
| "I get TypeError: x is undefined"                        |                         | strong-model | code         |
| "import numpy as np"                                     |                         | strong-model | code         |
| "What does File "app.py", line 3 mean?"                  |                         | strong-model | code         |
| "Prove that the square root of 2 is irrational."         |                         | strong-model | reasoning    |
| "Explain step by step how compound interest grows."      |                         | strong-model | reasoning    |
| "Solve for x: 3x + 5 = 20"                               |                         | strong-model | reasoning    |
| "Compute the integral of x^2 from 0 to 1."               |                         | strong-model | reasoning    |
| "Hello"                                                  | thinking                | strong-model | reasoning    |
| "What is the weather in Paris?"                          | tools                   | strong-model | tools        |
| "What is the weather in Paris?"                          | tools, tool_choice=none | cheap-model  | short_plain  |
| "Translate 'good morning' into French."                  |                         | cheap-model  | short_plain  |
| "Which class of ships is the largest?"                   |                         | cheap-model  | short_plain  |
| "Select one fruit from the list: apple, pear."           |                         | cheap-model  | short_plain  |
| "Please improve my essay."                               |                         | cheap-model  | short_plain  |
| (no parsed request)                                      |                         | strong-model | default      |
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from app.relay.protocols import ir
from app.relay.routing.config import AutoPolicy
from app.relay.tokens import count_request

AutoReason = Literal["long_context", "code", "reasoning", "tools", "short_plain", "default"]

#: Text examined by the content rules: all of it up to this size, else its two ends (see docstring).
MAX_SCAN_CHARS = 32_768


def _word(literal: str, rest: str = r"\b") -> str:
    """``literal`` at the start of a word, then ``rest``. The pattern starts with the literal (the
    word-start check is a lookbehind after it) so ``re`` can use its fast substring search:
    a leading ``\b`` makes every position a candidate and costs ~40x more on long prompts."""
    escaped = re.escape(literal)
    return rf"{escaped}(?<!\w{escaped}){rest}"


# Every pattern starts with a literal and is bounded per candidate position, so scanning stays
# linear in the (capped) text size even on adversarial input.
_CODE = tuple(re.compile(pattern) for pattern in (
    r"```",
    _word("def", r"\s+\w{1,100}\s*\("),
    _word("class", r"\s+[A-Za-z_]\w{0,100}\s*(?:[:({]|extends\b|implements\b)"),
    _word("function", r"\s*\w{0,100}\s*\([^)]{0,200}\)\s*\{"),
    r"#include\b",
    _word("SELECT", r"\s(?:(?!SELECT)[^;]){0,300}?\bFROM\b"),
    r"\n[ \t]{0,40}(?:import\s+[\w.]+|from\s+[\w.]+\s+import\s+\w|(?:const|let|var)\s+\w+\s*="
    r"|at [^\s(]{1,200} ?\([^\s)]{1,200}:\d+(?::\d+)?\))",
    r"Traceback \(most recent call last\)",
    r'File "[^"\n]{1,200}", line \d+',
    r"Error(?<=\wError):",
    r"Exception(?<=\wException):",
))

#: Matched against the lower-cased text.
_REASONING = tuple(re.compile(pattern) for pattern in (
    _word("step", r"[- ]by[- ]step\b"),
    *(_word(word) for word in ("prove", "proof", "theorem", "lemma", "derive", "derivation", "reason through",
                               "think carefully", "think hard", "show your work", "solve for", "integral",
                               "equation")),
    r"\\(?:frac|int|sum|sqrt)\b",
    r"\$\$",
))


class AutoChoice(NamedTuple):
    model: str
    reason: AutoReason


def choose(request: ir.Request | None, policy: AutoPolicy, *, input_tokens: int | None = None) -> AutoChoice:
    """The model ``"auto"`` stands for in this request, and why (see the module docstring)."""
    if input_tokens is None and request is not None:
        input_tokens = count_request(request)
    if input_tokens is not None and input_tokens > policy.long_threshold:
        return AutoChoice(policy.long, "long_context")
    choice = _by_content(request, policy, input_tokens)
    window = policy.context_windows.get(choice.model)
    if window is not None and input_tokens is not None and input_tokens > window:
        return AutoChoice(policy.long, "long_context")
    return choice


def _by_content(request: ir.Request | None, policy: AutoPolicy, input_tokens: int | None) -> AutoChoice:
    if request is None:
        return AutoChoice(policy.strong, "default")
    text = _scanned(request_text(request))
    if any(pattern.search(text) for pattern in _CODE):
        return AutoChoice(policy.strong, "code")
    if request.thinking is not None and request.thinking.enabled:
        return AutoChoice(policy.strong, "reasoning")
    lowered = text.lower()
    if any(pattern.search(lowered) for pattern in _REASONING):
        return AutoChoice(policy.strong, "reasoning")
    if request.tools and (request.tool_choice is None or request.tool_choice.mode != "none"):
        return AutoChoice(policy.strong, "tools")
    if input_tokens is not None and input_tokens < policy.short_threshold:
        return AutoChoice(policy.cheap, "short_plain")
    return AutoChoice(policy.strong, "default")


def _scanned(text: str) -> str:
    if len(text) > MAX_SCAN_CHARS:
        half = MAX_SCAN_CHARS // 2
        text = text[:half] + "\n" + text[-half:]
    return "\n" + text  # so line-start patterns also match the first line


def request_text(request: ir.Request) -> str:
    """The text the content rules look at: system prompt, message text and tool-result text."""
    parts = [block.text for block in request.system]
    for message in request.messages:
        for block in message.content:
            if isinstance(block, ir.TextBlock):
                parts.append(block.text)
            elif isinstance(block, ir.ToolResultBlock):
                parts.extend(b.text for b in block.content if isinstance(b, ir.TextBlock))
    return "\n".join(parts)
