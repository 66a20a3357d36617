"""What an evaluation run writes: one `EvalRecord` per item, and the run's `RunInfo`.

A run directory holds ``run.json`` (configuration, dataset identity, start
times) and ``results.jsonl``, an append-only log with one JSON record per
finished item. Each record is flushed and fsync'd before the next item is
written, so a killed run loses at most the line being written; `open_results`
cuts such a torn last line off before appending again, and resuming skips the
uids already present, so records are never duplicated.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from nl2opt.errors import Nl2OptError

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.json"

# Why an item was not answered correctly; "correct" for the rest. "llm_error" (the
# LLM call itself failed) and "unscored" (answered, but the item has no label) are
# kept apart so they never count as modelling failures.
FAILURE_CATEGORIES = ("correct", "wrong_objective", "infeasible", "unbounded", "timeout",
                      "solver_error", "compile_error", "invalid_formulation", "no_parse",
                      "llm_error", "unscored")

# Fields that legitimately differ between two runs of the same configuration.
VOLATILE_FIELDS = frozenset({"llm_seconds", "check_seconds", "solve_seconds", "cpu_seconds",
                             "finished_at"})


class EvaluationError(Nl2OptError):
    """An evaluation run cannot start or continue (bad run directory, mismatched resume)."""


class SampleSummary(BaseModel):
    termination: str | None = None
    objective: float | None = None


class EvalRecord(BaseModel):
    """The outcome of one benchmark item: prediction, score, cost and provenance."""

    uid: str
    dataset: str
    subset: str | None = None
    question_sha256: str
    # The prediction (final answer after self-correction and voting).
    status: str | None = None
    objective: float | None = None
    problem_class: str | None = None
    # The score against the label (the label is read only after the loop finished).
    expected_status: str | None = None
    expected_answer: float | None = None
    correct: bool = False
    scored: bool = False
    relative_error: float | None = None
    conventions: dict[str, bool] = Field(default_factory=dict)
    category: str = "no_parse"
    error: str = ""
    # Self-correction: the answer the first round alone would have given.
    attempts: int = 0
    rounds_used: int = 0
    first_status: str | None = None
    first_objective: float | None = None
    first_correct: bool = False
    # Sampling and voting.
    samples: list[SampleSummary] = Field(default_factory=list)
    agreement: float | None = None
    vote_method: str = ""  # "equivalence" or "objective" (several samples only)
    vote_classes: list[dict[str, Any]] = Field(default_factory=list)
    objective_vote_status: str | None = None  # what voting by objective value answers
    objective_vote_objective: float | None = None
    objective_vote_correct: bool = False
    # Semantic review: the answer before the review changed anything.
    review_enabled: bool = False
    reviews: int = 0
    review_findings: int = 0
    prereview_status: str | None = None
    prereview_objective: float | None = None
    prereview_correct: bool = False
    # Interpretation alternatives of the answer (primary first in each choice), scored.
    alternatives: list[dict[str, Any]] = Field(default_factory=list)
    alternative_matched: bool = False  # the label matched a non-primary interpretation
    # Cost.
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    check_seconds: float = 0.0
    solve_seconds: float = 0.0
    cpu_seconds: float = 0.0
    # Provenance.
    llm: str = ""
    prompts: list[str] = Field(default_factory=list, description="prompt id@template hash")
    dataset_version: str = ""
    dataset_file_hash: str = ""
    nl2opt_version: str = ""
    finished_at: str = ""

    @property
    def answered(self) -> bool:
        """An answer was produced: an objective value, or a definite no-solution verdict."""
        if self.status == "optimal":
            return self.objective is not None
        return self.status in ("infeasible", "unbounded", "infeasible_or_unbounded")

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def stable(self) -> dict[str, Any]:
        """The record without timings: equal for two runs of the same configuration."""
        return self.model_dump(mode="json", exclude=set(VOLATILE_FIELDS))


class RunConfig(BaseModel):
    """The options of an evaluation run; the first group must match to resume."""

    dataset: str
    llm: str
    rounds: int = 3
    samples: int = 1
    solver: str | None = None
    time_limit: float | None = 60.0
    data_dir: str | None = None
    limit: int | None = None
    ids: list[str] | None = None
    workers: int = 1
    memory_mb: int | None = None
    batch_size: int = 64
    review: bool | None = None  # None: on when rounds > 0
    vote: str = "equivalence"

    def resume_key(self) -> dict[str, Any]:
        """What must not change between a run and its resumption."""
        return self.model_dump(include={"dataset", "llm", "rounds", "samples", "solver",
                                        "time_limit", "review", "vote"})


class RunInfo(BaseModel):
    """Contents of run.json."""

    config: RunConfig
    dataset_name: str
    dataset_version: str
    dataset_file_hash: str
    items: int
    nl2opt_version: str
    started_at: str
    resumed_at: list[str] = Field(default_factory=list)
    finished_at: str | None = None


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()


def read_run_info(run_dir: str | Path) -> RunInfo:
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        raise EvaluationError(f"{run_dir} is not an evaluation run directory: {RUN_FILE} is "
                              "missing. Pass the --out directory of `nl2opt eval`.")
    return RunInfo.model_validate_json(path.read_text(encoding="utf-8"))


def write_run_info(run_dir: str | Path, info: RunInfo) -> None:
    """Write run.json atomically (a kill never leaves half a file)."""
    path = Path(run_dir) / RUN_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_results(run_dir: str | Path) -> list[EvalRecord]:
    """The records of a run, in order; a torn last line is ignored, duplicates keep the first."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        return []
    records, seen = [], set()
    for line in _complete_lines(path):
        record = EvalRecord.model_validate_json(line)
        if record.uid not in seen:
            seen.add(record.uid)
            records.append(record)
    return records


def _complete_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # bytes after the last newline are a torn write
    lines = data[:end].decode("utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            json.loads(line)
        except json.JSONDecodeError as error:
            raise EvaluationError(
                f"{path}:{number} is not a JSON record ({error.msg}); only the last line can "
                "be torn by a kill. Delete the damaged line and resume.") from error
    return [line for line in lines if line.strip()]


class ResultsLog:
    """Append-only results.jsonl: one fsync'd line per record, a torn tail cut first."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        self._handle = self.path.open("a", encoding="utf-8")

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            with self.path.open("r+b") as handle:
                handle.truncate(end)
                os.fsync(handle.fileno())

    def append(self, record: EvalRecord) -> None:
        self._handle.write(record.model_dump_json() + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
