"""The diagnosis of a failure (pure request builder and reply reader).

The LLM sees the problem, the failing formulation, its result, the label,
the reference model, the insights shown and other nearby ones. It answers
with the issues, a label per shown insight, the other insights that would
have helped (AlphaOPT's "unretrieved"), and 1-3 new insights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nl2opt.library.model import Insight, InsightDraft, Outcome, Stage, TaxonomyPath, TrainingTask
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMRequest, LLMResponse, Sampling
from nl2opt.prompts import render_prompt

DIAGNOSE_PROMPT = "library_diagnose.v1"
SHOWN_STATES = {Outcome.positive, Outcome.negative, Outcome.irrelevant, Outcome.invalid}
MAX_PROPOSALS = 3
_TEXT = {"type": "string"}
DRAFT_SCHEMA = {"type": "object", "required": ["stage", "level1", "level2", "condition",
                                               "explanation", "example"],
                "properties": {"stage": {"type": "string",
                                         "enum": [stage.value for stage in Stage]},
                               "level1": _TEXT, "level2": _TEXT, "condition": _TEXT,
                               "explanation": _TEXT, "example": _TEXT}}
DIAGNOSIS_SCHEMA = {
    "type": "object", "required": ["issues", "shown", "unretrieved", "insights"],
    "properties": {
        "issues": {"type": "array", "items": _TEXT},
        "shown": {"type": "array", "items": {
            "type": "object", "required": ["number", "state"],
            "properties": {"number": {"type": "integer"},
                           "state": {"type": "string",
                                     "enum": sorted(o.value for o in SHOWN_STATES)}}}},
        "unretrieved": {"type": "array", "items": {"type": "integer"}},
        "insights": {"type": "array", "items": DRAFT_SCHEMA, "maxItems": MAX_PROPOSALS}}}


@dataclass
class Diagnosis:
    issues: list[str] = field(default_factory=list)
    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)  # (insight id, outcome)
    proposals: list[InsightDraft] = field(default_factory=list)
    readable: bool = True

    @property
    def negative_ids(self) -> set[str]:
        return {i for i, outcome in self.outcomes if outcome is Outcome.negative}

    @property
    def covered(self) -> bool:
        """An existing insight would have fixed it (so nothing new is needed)."""
        return any(outcome in (Outcome.unretrieved, Outcome.invalid)
                   for _, outcome in self.outcomes)


def expected_text(task: TrainingTask) -> str:
    if task.answer_status == "optimal":
        return f"optimal, objective {task.answer:.10g}"
    return task.answer_status


def diagnosis_request(task: TrainingTask, formulation: dict | None, result: str,
                      problems: Sequence[str], shown: Sequence[Insight],
                      others: Sequence[Insight], taxonomy: Sequence[str],
                      rejected: Sequence[InsightDraft] = (), reference_chars: int = 12000
                      ) -> LLMRequest:
    prompt = render_prompt(
        DIAGNOSE_PROMPT, problem=task.question.strip(),
        formulation=json.dumps(formulation, ensure_ascii=False) if formulation else "(none)",
        result=result, problems="; ".join(problems)[:2000], expected=expected_text(task),
        reference=task.reference[:reference_chars], reference_kind=task.reference_kind,
        shown=list(shown), others=list(others), taxonomy=list(taxonomy),
        rejected=[_as_shown(draft) for draft in rejected])
    return LLMRequest(messages=prompt.messages, json_schema=DIAGNOSIS_SCHEMA,
                      schema_name="diagnosis", prompt_id=prompt.id, prompt_hash=prompt.hash,
                      sampling=Sampling(temperature=0.0, max_tokens=4096))


def _as_shown(draft: InsightDraft) -> dict[str, str]:
    return {"label": draft.taxonomy.label, "condition": draft.condition,
            "explanation": draft.explanation}


def read_draft(value: Any) -> InsightDraft | None:
    """An insight draft from a reply's {"stage", "level1", "level2", ...} object."""
    if not isinstance(value, dict):
        return None
    try:
        path = TaxonomyPath(stage=_stage(value.get("stage")), level1=str(value.get("level1")),
                            level2=str(value.get("level2")))
        return InsightDraft(taxonomy=path, condition=str(value.get("condition") or ""),
                            explanation=str(value.get("explanation") or ""),
                            example=str(value.get("example") or ""))
    except (ValidationError, ValueError):
        return None


def _stage(value: Any) -> Stage:
    text = str(value or "").strip().lower()
    for stage in Stage:
        if text == stage.value.lower() or text == stage.name:
            return stage
    if "code" in text or "language" in text:
        return Stage.language
    raise ValueError(f"unknown stage {value!r}")


def read_diagnosis(response: LLMResponse, shown: Sequence[Insight],
                   others: Sequence[Insight]) -> Diagnosis:
    payload = response.parsed if response.parsed is not None else extract_json(response.text)
    if not isinstance(payload, dict):
        return Diagnosis(readable=False)
    diagnosis = Diagnosis(issues=[str(i) for i in payload.get("issues") or []][:10])
    for entry in payload.get("shown") or []:
        number, state = _number(entry, "number"), str((entry or {}).get("state", "")).lower()
        if 0 < number <= len(shown) and state in {o.value for o in SHOWN_STATES}:
            diagnosis.outcomes.append((shown[number - 1].id, Outcome(state)))
    for value in payload.get("unretrieved") or []:
        number = _number({"n": value}, "n")
        if 0 < number <= len(others):
            diagnosis.outcomes.append((others[number - 1].id, Outcome.unretrieved))
    drafts = [read_draft(value) for value in payload.get("insights") or []]
    diagnosis.proposals = [d for d in drafts if d is not None][:MAX_PROPOSALS]
    return diagnosis


def _number(entry: Any, key: str) -> int:
    try:
        return int((entry or {}).get(key))
    except (TypeError, ValueError, AttributeError):
        return 0
