"""Solve outcomes kept for items that wait for batch LLM answers.

With a batch backend a run stops while some items are between rounds. On
`--resume` such an item is replayed from its first round: its LLM answers come
back from the batch files, and its solve outcomes from ``pending_solves.jsonl``,
so nothing is solved twice and the replay reaches exactly the requests it
queued before (solving a time-limited model again could end elsewhere and ask
the LLM a question nobody queued). Only the outcomes of still-waiting items are
kept; the file disappears once none waits.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from nl2opt.evaluation.solve_stage import SolveJob
from nl2opt.pipeline.stages import SolveOutcome

PENDING_SOLVES_FILE = "pending_solves.jsonl"

_OUTCOME = TypeAdapter(SolveOutcome)


class Solver(Protocol):
    def run(self, jobs: list[SolveJob]) -> list[SolveOutcome]: ...


def solve_key(job: SolveJob) -> str:
    """A stable hash of what determines a job's outcome."""
    text = json.dumps([job.formulation, job.solver, job.time_limit, job.data_dir],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class SolveCache:
    """`run(jobs, keys)` answers from kept outcomes and solves the rest in `pool`.

    Outcomes of the current chunk stay in memory until `keep(keys)` says which
    belong to waiting items; `write()` saves those (atomically) at the end.
    """

    def __init__(self, pool: Solver, run_dir: str | Path | None = None) -> None:
        self.pool = pool
        self.path = Path(run_dir) / PENDING_SOLVES_FILE if run_dir is not None else None
        self.saved = read_outcomes(self.path) if self.path is not None else {}
        self.fresh: dict[str, SolveOutcome] = {}
        self.kept: dict[str, SolveOutcome] = {}

    def run(self, jobs: list[SolveJob], keys: list[str]) -> list[SolveOutcome]:
        """One outcome per job; identical jobs are solved once."""
        todo: dict[str, SolveJob] = {}
        for job, key in zip(jobs, keys):
            if key not in self.fresh and key not in self.saved:
                todo.setdefault(key, job)
        self.fresh.update(zip(todo, self.pool.run(list(todo.values()))))
        return [self.fresh[key] if key in self.fresh else self.saved[key] for key in keys]

    def keep(self, keys: Iterable[str]) -> None:
        """Keep these outcomes (of waiting items) for the next resume; forget the rest."""
        for key in keys:
            outcome = self.fresh.get(key, self.saved.get(key))
            if outcome is not None:
                self.kept[key] = outcome
        self.fresh.clear()

    def write(self) -> None:
        if self.path is None:
            return
        if not self.kept:
            self.path.unlink(missing_ok=True)
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            for key, outcome in self.kept.items():
                handle.write(json.dumps({"key": key, "outcome": _OUTCOME.dump_python(outcome)})
                             + "\n")
        os.replace(temporary, self.path)


def read_outcomes(path: Path) -> dict[str, SolveOutcome]:
    """The kept outcomes by key; an unreadable line is skipped (it is solved again)."""
    if not path.exists():
        return {}
    outcomes = {}
    for line in path.read_bytes().splitlines():
        try:
            entry = json.loads(line)
            outcomes[str(entry["key"])] = _OUTCOME.validate_python(entry["outcome"])
        except (ValueError, KeyError, TypeError, ValidationError):
            continue
    return outcomes
