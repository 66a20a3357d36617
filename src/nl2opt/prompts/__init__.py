"""Prompt templates (versioned files shipped with the package) and their renderer.

A file `NAME.vK.jinja` holds `### system`, `### user` and `### assistant`
sections; each renders with strict undefined variables, so a missing value is
an error rather than a silently empty prompt. Every rendered prompt carries
its id and the hash of its template, so a run records which prompt produced
which answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import jinja2

from nl2opt.llm.types import Message

_SECTION = re.compile(r"^### (system|user|assistant)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    id: str
    hash: str
    messages: list[Message]


@lru_cache(maxsize=None)
def _template_text(prompt_id: str) -> str:
    path = resources.files("nl2opt.prompts").joinpath(f"{prompt_id}.jinja")
    return path.read_text(encoding="utf-8")


def render_prompt(prompt_id: str, **values) -> Prompt:
    """Render the prompt `prompt_id` (e.g. 'formulate.v1') into chat messages."""
    text = _template_text(prompt_id)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                     keep_trailing_newline=False)
    environment.filters["quoted"] = quoted
    # Split, then render: a value (a problem statement, an insight, an LLM reply) with a
    # line '### system' of its own stays text inside its message instead of opening one.
    messages = [Message(role=role, content=environment.from_string(body).render(**values)
                        .strip()) for role, body in split_sections(text)]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Prompt(prompt_id, digest, messages)


def quoted(text: object) -> str:
    """`text` as a quoted block: every line (whatever breaks it, \\r or \\u2028 included)
    starts with '> ', so text from a library cannot pass for a line of the prompt itself,
    such as 'Problem:'."""
    lines = str(text).strip("\n").splitlines() or [""]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def split_sections(text: str) -> list[tuple[str, str]]:
    """A template's (role, body) sections, in order; text before the first is dropped."""
    parts = _SECTION.split(text)
    return list(zip(parts[1::2], parts[2::2]))


@lru_cache(maxsize=None)
def fewshot_answer(name: str = "workshop") -> str:
    """A hand-written example answer (never a benchmark item), as compact JSON."""
    path = resources.files("nl2opt.prompts").joinpath(f"fewshot/{name}.json")
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), separators=(",", ":"))
