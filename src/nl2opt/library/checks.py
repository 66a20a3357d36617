"""The two LLM steps of retrieval, as pure request builders and reply readers.

Both are asked for many problems in one `generate()` call: the taxonomy labels
a problem touches, and which candidate insights' conditions hold for it. Replies
name items by their number in the prompt, which a model cannot misspell; an
unreadable reply counts as "none", so retrieval errs on the side of showing less.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nl2opt.library.model import Insight, TaxonomyEntry, TaxonomyPath
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMRequest, LLMResponse, Sampling
from nl2opt.prompts import render_prompt

LABELS_PROMPT = "library_labels.v1"
CHECK_PROMPT = "library_check.v1"


def numbers_schema(field: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": [field],
            "properties": {field: {"type": "array", "items": {"type": "integer"}}}}


def _request(prompt_id: str, field: str, max_tokens: int = 512, **values) -> LLMRequest:
    prompt = render_prompt(prompt_id, **values)
    return LLMRequest(messages=prompt.messages, json_schema=numbers_schema(field),
                      schema_name=field, prompt_id=prompt.id, prompt_hash=prompt.hash,
                      sampling=Sampling(temperature=0.0, max_tokens=max_tokens))


def labels_request(problem: str, topics: Sequence[TaxonomyEntry], limit: int = 3
                   ) -> LLMRequest:
    return _request(LABELS_PROMPT, "labels", problem=problem.strip(), topics=list(topics),
                    limit=limit)


def check_request(problem: str, candidates: Sequence[Insight]) -> LLMRequest:
    return _request(CHECK_PROMPT, "applicable", problem=problem.strip(),
                    candidates=list(candidates))


def chosen_numbers(response: LLMResponse, field: str, count: int) -> list[int]:
    """0-based positions named in the reply's `field` (1-based there), in the reply's order,
    without repeats or numbers out of range."""
    payload = response.parsed if response.parsed is not None else extract_json(response.text)
    values = payload.get(field) if isinstance(payload, dict) else None
    chosen: list[int] = []
    for value in values if isinstance(values, list) else []:
        try:
            position = int(value) - 1
        except (TypeError, ValueError):
            continue
        if 0 <= position < count and position not in chosen:
            chosen.append(position)
    return chosen


def read_labels(response: LLMResponse, topics: Sequence[TaxonomyEntry]) -> list[TaxonomyPath]:
    return [topics[k].path for k in chosen_numbers(response, "labels", len(topics))]


def read_check(response: LLMResponse, candidates: Sequence[Insight]) -> list[Insight]:
    return [candidates[k] for k in chosen_numbers(response, "applicable", len(candidates))]
