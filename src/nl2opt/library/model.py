"""The experience library's data model: insights, their taxonomy, provenance and statistics.

An insight says *when* it applies (`condition`, descriptive, never prescriptive),
*what* to do and which mistake it prevents (`explanation`), and shows it
(`example`, wrong versus correct, in nl2opt's formulation language). Its
statistics count, per training task, how it fared the way AlphaOPT's diagnosis
counts them; refinement reads them.
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Stage(str, Enum):
    """The taxonomy's first level: where in modelling a mistake happens.

    AlphaOPT's third stage is code implementation (solver APIs); nl2opt's model
    is written in its own formulation language, so its third stage is that
    language: indices, sums, `where` conditions, data.
    """

    domain = "Domain Modeling"
    formulation = "General Formulation"
    language = "Formulation Language"


class Status(str, Enum):
    candidate = "candidate"  # proposed or imported, not yet verified by the solver or a person
    verified = "verified"  # re-solving its source task with it retrieved gave the right answer
    retired = "retired"  # merged into another insight, or hurt more than it helped


class Outcome(str, Enum):
    """How an insight fared on one task (AlphaOPT's diagnosis labels)."""

    positive = "positive"  # retrieved, adopted, and the answer was right
    negative = "negative"  # retrieved and misleading: it caused or risked a mistake
    unretrieved = "unretrieved"  # not retrieved, although it would have fixed the task
    irrelevant = "irrelevant"  # retrieved but unrelated to the task
    invalid = "invalid"  # retrieved and right, but not adopted by the model


class TaxonomyPath(BaseModel):
    """stage -> level 1 -> level 2, e.g. General Formulation / Constraint Formulation /
    Percentage limits."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    level1: str = Field(min_length=1)
    level2: str = Field(min_length=1)

    @property
    def label(self) -> str:
        return f"{self.stage.value} / {self.level1} / {self.level2}"

    @classmethod
    def parse(cls, text: str) -> TaxonomyPath:
        """From 'Stage / level 1 / level 2' (the form `label` prints)."""
        parts = [part.strip() for part in text.split("/")]
        if len(parts) != 3:
            raise ValueError(f"taxonomy {text!r} is not 'stage / level 1 / level 2'")
        return cls(stage=Stage(parts[0]), level1=parts[1], level2=parts[2])


class TaxonomyEntry(BaseModel):
    """One leaf of the taxonomy, with what it means (grown as new labels appear)."""

    path: TaxonomyPath
    definition: str = ""


class Provenance(BaseModel):
    """Where an insight came from."""

    origin: str = "learned"  # learned, merged, alphaopt, person
    source_tasks: list[str] = Field(default_factory=list)
    dataset: str = ""
    run: str = ""
    llm: str = ""
    prompt: str = ""  # prompt id@template hash of the request that proposed it
    merged_from: list[str] = Field(default_factory=list)
    upstream_id: str = ""  # e.g. AlphaOPT's insight_id


class InsightStats(BaseModel):
    """Task ids per outcome; adding a task twice changes nothing (resumes are safe)."""

    positive: list[str] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)
    unretrieved: list[str] = Field(default_factory=list)
    irrelevant: list[str] = Field(default_factory=list)
    invalid: list[str] = Field(default_factory=list)

    def add(self, outcome: Outcome, task_id: str) -> bool:
        """Record `task_id` under `outcome`; False when it was already there."""
        tasks = getattr(self, outcome.value)
        if task_id in tasks:
            return False
        tasks.append(task_id)
        tasks.sort()
        return True

    def counts(self) -> dict[str, int]:
        return {outcome.value: len(getattr(self, outcome.value)) for outcome in Outcome}

    def union(self, other: InsightStats) -> InsightStats:
        merged = self.model_copy(deep=True)
        for outcome in Outcome:
            for task_id in getattr(other, outcome.value):
                merged.add(outcome, task_id)
        return merged


class Insight(BaseModel):
    """One learned modelling insight."""

    id: str
    taxonomy: TaxonomyPath
    condition: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    example: str = ""
    provenance: Provenance = Field(default_factory=Provenance)
    stats: InsightStats = Field(default_factory=InsightStats)
    status: Status = Status.candidate
    version: int = 1
    note: str = ""  # why it was retired, who approved it, ...

    @field_validator("condition", "explanation", "example", mode="before")
    @classmethod
    def _strip(cls, text):
        # Before the length checks: a condition of spaces is no condition.
        return text.strip() if isinstance(text, str) else text

    @property
    def label(self) -> str:
        """The taxonomy path as text (what the formulate prompt shows)."""
        return self.taxonomy.label

    def content(self) -> dict:
        """What a person reads and a version records (no statistics)."""
        return self.model_dump(mode="json", exclude={"stats", "version"})


class InsightDraft(BaseModel):
    """An insight as an LLM or a person proposes it, before it has an id."""

    taxonomy: TaxonomyPath
    condition: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    example: str = ""

    def to_insight(self, provenance: Provenance, status: Status = Status.candidate
                   ) -> Insight:
        return Insight(id=insight_id(self, provenance.source_tasks), taxonomy=self.taxonomy,
                       condition=self.condition, explanation=self.explanation,
                       example=self.example, provenance=provenance, status=status)


def insight_id(draft: InsightDraft, source_tasks: list[str]) -> str:
    """A stable id from the content and sources: the same proposal gets the same id on
    every run, so an interrupted and an uninterrupted learning run agree."""
    payload = json.dumps([draft.model_dump(mode="json"), sorted(source_tasks)],
                         sort_keys=True, ensure_ascii=False)
    return "ins-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:10]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters a token for English and JSON)."""
    return (len(text) + 3) // 4


class TrainingTask(BaseModel):
    """A problem with its label, for learning only (never shown to evaluation or solve).

    `reference` is a correct model when the dataset has one (a formulation in
    nl2opt's JSON, a written model, or a program, as `reference_kind` says);
    self-exploration fills it for answer-only items. `failing_formulation` is a
    known wrong answer (e.g. the one a person corrected in the app).
    """

    uid: str
    dataset: str = ""
    question: str
    answer: float | None = None
    answer_status: str = "optimal"
    reference: str = ""
    reference_kind: str = ""  # formulation, model, program
    failing_formulation: dict | None = None
