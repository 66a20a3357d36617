"""Find the JSON object in a model reply, without ever evaluating the text.

Models wrap JSON in many ways even when asked not to: prose before and after,
a ```json fenced block, or a <think>...</think> preamble (Qwen3, DeepSeek-R1)
that may itself contain braces. `extract_json` tries, in order: the whole
reply, each fenced block, then every balanced {...} span found by a
string-aware brace scanner; the first candidate that `json.loads` accepts as an
object wins. Only `json.loads` ever touches the text.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n?(.*?)```", re.DOTALL)


def strip_thinking(text: str) -> str:
    """The reply without <think>...</think> blocks (an unclosed one drops all before it)."""
    text = _THINK_BLOCK.sub("", text)
    # A reply whose opening tag sits in the chat template shows only "...</think>".
    closing = text.lower().rfind("</think>")
    if closing != -1:
        text = text[closing + len("</think>"):]
    return text.strip()


def extract_json(text: str | None) -> dict[str, Any] | None:
    """The first JSON object in `text`, or None when there is none that parses."""
    if not text:
        return None
    for candidate in _candidates(strip_thinking(text)):
        parsed = _loads_object(candidate)
        if parsed is not None:
            return parsed
    return None


def _candidates(text: str) -> Iterator[str]:
    yield text
    fenced = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "json")]
    yield from fenced
    for body in fenced:
        yield from balanced_objects(body)
    yield from balanced_objects(text)
    yield from _nested_objects(text)


_MAX_NESTED_STARTS = 200


def _nested_objects(text: str) -> Iterator[str]:
    """Balanced spans starting at every brace, for objects inside broken outer ones."""
    start = text.find("{", 1)
    for _ in range(_MAX_NESTED_STARTS):
        if start == -1:
            return
        end = _matching_brace(text, start)
        if end is not None:
            yield text[start:end + 1]
        start = text.find("{", start + 1)


def _loads_object(candidate: str) -> dict[str, Any] | None:
    candidate = candidate.strip()
    if not candidate.startswith("{"):
        return None
    try:
        value = json.loads(candidate)
    except (json.JSONDecodeError, RecursionError):
        return None
    # Deep nesting is no formulation, and would break whatever walks it later (pydantic
    # serialization of a recorded response stops at a few hundred levels).
    if not isinstance(value, dict) or json_depth(value) > MAX_JSON_DEPTH:
        return None
    return value


MAX_JSON_DEPTH = 64  # a formulation nests about 8 levels


def json_depth(value: Any, stop_above: int = MAX_JSON_DEPTH) -> int:
    """How deeply lists and objects nest in a parsed JSON value (1 for `{}`), without
    recursion; stops counting once it is above `stop_above`."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= stop_above:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item \
            if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def balanced_objects(text: str) -> Iterator[str]:
    """Every top-level balanced {...} span of `text`, left to right.

    Braces inside JSON strings (with backslash escapes) do not count, so
    ``{"a": "}"}`` is one span. An unbalanced opening brace is skipped and the
    scan resumes after it, so later objects are still found.
    """
    start = text.find("{")
    while start != -1:
        end = _matching_brace(text, start)
        if end is None:
            start = text.find("{", start + 1)
            continue
        yield text[start:end + 1]
        start = text.find("{", end + 1)


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for position in range(start, len(text)):
        char = text[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return position
    return None
