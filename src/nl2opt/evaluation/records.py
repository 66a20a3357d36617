"""What an evaluation run writes: one `EvalRecord` per item, and the run's `RunInfo`.

A run directory holds ``run.json`` (configuration, dataset identity, start
times) and ``results.jsonl``, an append-only log with one JSON record per
finished item. Each record is flushed and fsync'd before the next item is
written, so a killed run loses at most the line being written; `ResultsLog`
cuts such a torn last line off before appending again (a complete last record
that only lacks its newline is kept), and resuming skips the uids already
present, so records are never duplicated.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

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


class EvaluationPending(EvaluationError):
    """The run stopped because a batch LLM backend has not answered some requests yet.

    Everything answered was evaluated; `waiting_items` items wait for
    `waiting_requests` requests queued in `requests_path`; `command` produces the
    answers, after which `--resume` continues. `records` are the finished ones.
    """

    def __init__(self, *, records: list, waiting_items: int, waiting_requests: int,
                 command: str, requests_path: Path | None) -> None:
        self.records = records
        self.waiting_items = waiting_items
        self.waiting_requests = waiting_requests
        self.command = command
        self.requests_path = requests_path
        super().__init__(self.describe())

    def describe(self, resume: str = "the same run with --resume") -> str:
        """What waits, the command that answers it, and `resume`: how to continue."""
        where = f" queued in {self.requests_path}" if self.requests_path else ""
        return (f"{self.waiting_items} item(s) wait for {self.waiting_requests} LLM "
                f"request(s){where} ({len(self.records)} item(s) finished). Produce the "
                f"answers with:\n  {self.command}\nthen continue with:\n  {resume}\n"
                "Nothing answered is asked or solved again; each resume takes every waiting "
                "item at least one round further.")


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
    # With status "time_limit": the best point's objective above, the solver's bound and
    # relative gap here (None when unknown).
    bound: float | None = None
    gap: float | None = None
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
    insight_ids: list[str] = Field(default_factory=list)  # experience-library insights shown
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
    library: str | None = None  # experience library file, if one was used
    embeddings: str | None = None  # the library's dense-retrieval endpoint spec, if any
    review: bool | None = None  # the semantic review; None: on when rounds > 0
    vote: str = "equivalence"  # how several samples vote

    def resume_key(self) -> dict[str, Any]:
        """What must not change between a run and its resumption (the dataset is compared
        by name and file hash, not by how its path was spelt)."""
        return self.model_dump(include={"llm", "rounds", "samples", "solver", "time_limit",
                                        "library", "embeddings", "review", "vote"})


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
    uids: list[str] = Field(default_factory=list, description=(
        "the items of the run: every selection it was started or resumed with; records "
        "of other uids are not counted (empty in run.json files of older versions)"))


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()


def read_run_info(run_dir: str | Path) -> RunInfo:
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        raise EvaluationError(f"{run_dir} is not an evaluation run directory: {RUN_FILE} is "
                              "missing. Pass the --out directory of `nl2opt eval`.")
    try:
        return RunInfo.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise EvaluationError(
            f"{path} is damaged ({_validation_problems(error)}); `nl2opt eval` writes it "
            "when a run starts. Restore it from a copy, or run the evaluation again in a "
            "new --out directory.") from None


def write_run_info(run_dir: str | Path, info: RunInfo) -> None:
    """Write run.json atomically (a kill never leaves half a file)."""
    path = Path(run_dir) / RUN_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def read_results(run_dir: str | Path) -> list[EvalRecord]:
    """The records of a run, in order; duplicates keep the first.

    Blank lines are skipped; a last line without its newline counts when it is a
    whole record and is ignored as torn otherwise. Any other unreadable line raises
    EvaluationError naming it.
    """
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    tail = _tail_record(lines.pop())  # the bytes after the last newline
    records = [_parse_record(path, number, line)
               for number, line in enumerate(lines, start=1) if line.strip()]
    records += [tail] if tail is not None else []
    first: dict[str, EvalRecord] = {}
    for record in records:
        first.setdefault(record.uid, record)
    return list(first.values())


def own_records(records: list[EvalRecord], info: RunInfo | None) -> list[EvalRecord]:
    """The records of the run's own items (`RunInfo.uids`); records of other uids (a line
    pasted from elsewhere) count nowhere. run.json files without uids keep every record."""
    if info is None or not info.uids:
        return records
    uids = set(info.uids)
    return [record for record in records if record.uid in uids]


def read_own_records(run_dir: str | Path) -> list[EvalRecord]:
    """`own_records` of a run directory (every record when run.json is absent)."""
    info = read_run_info(run_dir) if (Path(run_dir) / RUN_FILE).exists() else None
    return own_records(read_results(run_dir), info)


def complete_lines(path: Path) -> list[str]:
    """The JSON lines of an append-only file, blank lines skipped: a last line without
    its newline counts when it is whole JSON and is ignored as torn otherwise; any other
    line that is not JSON raises EvaluationError naming it."""
    lines = path.read_bytes().split(b"\n")
    tail = lines.pop()
    kept = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise EvaluationError(
                f"{path}:{number} is not a JSON record ({error}); only the last line can be "
                "torn by a kill. Delete the damaged line and resume.") from None
        kept.append(line.decode("utf-8"))
    try:
        if tail.strip():
            json.loads(tail)
            kept.append(tail.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass  # torn by a kill
    return kept


def _parse_record(path: Path, number: int, line: bytes) -> EvalRecord:
    try:
        return EvalRecord.model_validate_json(line)
    except ValidationError as error:
        raise EvaluationError(
            f"{path}:{number} is not a result record ({_validation_problems(error)}); only "
            f"the last line can be torn by a kill. Delete line {number} and resume: that "
            "item is evaluated again.") from None


def _tail_record(tail: bytes) -> EvalRecord | None:
    """The record in an unterminated last line, or None (nothing there, or torn)."""
    if not tail.strip():
        return None
    try:
        return EvalRecord.model_validate_json(tail)
    except ValidationError:
        return None


def _validation_problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors()[:3]:
        where = ".".join(str(part) for part in problem["loc"])
        parts.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return "; ".join(parts)


class ResultsLog:
    """Append-only results.jsonl: one fsync'd line per record, a torn tail cut first."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        self._handle = self.path.open("a", encoding="utf-8")

    def _cut_torn_tail(self) -> None:
        """End the file on a newline: complete a whole last record, cut a torn one."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end == len(data):
            return
        with self.path.open("r+b") as handle:
            if _tail_record(data[end:]) is not None:
                handle.seek(len(data))
                handle.write(b"\n")
            else:
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
