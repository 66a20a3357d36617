"""The records a synthesis run writes, and the append-only files that hold them.

* `instances.jsonl` (`InstanceRecord`): the LLM-free part, one generated,
  solved and scored instance per line.
* `problems.jsonl` (`ProblemRecord`): accepted text/formulation pairs. The text
  is stored as `question` and the status as `answer_status`, the field names of
  nl2opt's canonical benchmark files, so `nl2opt eval DIR/problems.jsonl` loads
  it as a benchmark (the other fields are ignored by the loader).
* `rejected.jsonl` (`ProblemRecord` with `acceptance.accepted = false`): pairs
  kept for analysis, with the reason.

Every file is appended one fsync'd line at a time; a line torn by a kill is cut
before appending again, so a resumed run loses and duplicates nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from nl2opt.datasets.types import AnswerStatus
from nl2opt.evaluation.records import ResultsLog, complete_lines

INSTANCES_FILE = "instances.jsonl"
PROBLEMS_FILE = "problems.jsonl"
REJECTED_FILE = "rejected.jsonl"

Variant = Literal["feasible", "infeasible", "unbounded"]
Rule = Literal["equivalence", "status_and_value", "none"]


class GeneratorSettings(BaseModel):
    """How an instance was generated: enough to generate it again."""

    family: str
    sizes: dict[str, int]
    seed: int
    variant: Variant = "feasible"
    variant_note: str = ""
    tables: Literal["inline", "files"] = "inline"
    origin: str = Field("given", description="where the sizes came from: given, tuned, llm")


class InstanceRecord(BaseModel):
    """One generated instance with its label (LLM-free)."""

    uid: str
    family: str
    domain: str
    problem_class: str
    formulation: dict[str, Any]
    data_files: list[str] = Field(default_factory=list)
    answer: float | None = None
    answer_status: AnswerStatus = "unlabeled"
    complexity: dict[str, float] = Field(default_factory=dict)
    generator: GeneratorSettings
    solver: str = ""
    solve_seconds: float = 0.0
    statement: str = Field("", description="LaTeX statement of the instance's model")


class Acceptance(BaseModel):
    """Whether the text/formulation pair was accepted, by which rule, and why."""

    accepted: bool
    rule: Rule = "none"
    reason: str = ""
    equivalence: str = Field("", description="verdict of nl2opt.equivalent, if it ran")
    recovered_status: str | None = None
    recovered_objective: float | None = None
    stage: str = Field("", description="where a rejected pair failed")


class ProblemRecord(BaseModel):
    """A problem statement and its verified formulation (or a rejected attempt)."""

    uid: str
    question: str
    formulation: dict[str, Any]
    data_files: list[str] = Field(default_factory=list)
    answer: float | None = None
    answer_status: AnswerStatus = "unlabeled"
    problem_class: str
    family: str
    domain: str = ""
    complexity: dict[str, float] = Field(default_factory=dict)
    generator: GeneratorSettings
    style: dict[str, str] = Field(default_factory=dict)
    acceptance: Acceptance
    critique_rounds: int = 0
    llm: str = ""
    prompts: list[str] = Field(default_factory=list, description="prompt id@hash used")
    augmentation: dict[str, str] | None = None
    recovered: dict[str, Any] | None = Field(None, description="the formulation recovered "
                                             "from the text (kept for rejected pairs)")
    nl2opt_version: str = ""


Record = TypeVar("Record", bound=BaseModel)


class JsonlLog(ResultsLog):
    """Append-only JSONL of pydantic records at `path` (the evaluation's results log)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        self._handle = self.path.open("a", encoding="utf-8")

    def append_json(self, data: dict) -> None:
        """Append a plain JSON object (fsync'd, like `append`)."""
        self._handle.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())


def read_records(path: str | Path, model: type[Record]) -> list[Record]:
    """The records of a JSONL file in order; a torn last line is ignored, duplicate
    uids keep the first."""
    path = Path(path)
    if not path.exists():
        return []
    records, seen = [], set()
    for line in complete_lines(path):
        record = model.model_validate_json(line)
        uid = getattr(record, "uid", None)
        if uid not in seen:
            seen.add(uid)
            records.append(record)
    return records
