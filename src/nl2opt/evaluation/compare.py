"""Compare two evaluation runs item by item: which answers flipped, and the accuracy delta.

Items are matched by uid. The delta is computed on the items both runs scored,
so a run that stopped early is not penalised for items it never reached
(each run's own accuracy over all its items is reported beside it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nl2opt.evaluation.records import EvalRecord, read_own_records


@dataclass(frozen=True)
class Flip:
    uid: str
    change: str  # "correct->wrong" or "wrong->correct"
    before: str  # category in run A
    after: str  # category in run B
    objective_before: float | None
    objective_after: float | None


@dataclass
class Comparison:
    run_a: str
    run_b: str
    common: int  # items scored in both runs
    accuracy_a: float | None  # on the common items
    accuracy_b: float | None
    delta: float | None  # accuracy_b - accuracy_a
    overall_a: float | None  # each run on all of its own scored items
    overall_b: float | None
    only_in_a: int = 0
    only_in_b: int = 0
    flips: list[Flip] = field(default_factory=list)

    @property
    def gained(self) -> list[Flip]:
        return [f for f in self.flips if f.change == "wrong->correct"]

    @property
    def lost(self) -> list[Flip]:
        return [f for f in self.flips if f.change == "correct->wrong"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gained"], data["lost"] = len(self.gained), len(self.lost)
        return data


def _accuracy(records: list[EvalRecord]) -> float | None:
    scored = [r for r in records if r.scored]
    return sum(r.correct for r in scored) / len(scored) if scored else None


def compare_records(a: list[EvalRecord], b: list[EvalRecord], run_a: str = "A",
                    run_b: str = "B") -> Comparison:
    """Per-item flips between two runs' records, and their accuracy delta."""
    by_uid_a = {r.uid: r for r in a}
    by_uid_b = {r.uid: r for r in b}
    common = [uid for uid in by_uid_a if uid in by_uid_b
              and by_uid_a[uid].scored and by_uid_b[uid].scored]
    flips = [Flip(uid, "correct->wrong" if by_uid_a[uid].correct else "wrong->correct",
                  by_uid_a[uid].category, by_uid_b[uid].category, by_uid_a[uid].objective,
                  by_uid_b[uid].objective)
             for uid in common if by_uid_a[uid].correct != by_uid_b[uid].correct]
    accuracy_a = _accuracy([by_uid_a[uid] for uid in common])
    accuracy_b = _accuracy([by_uid_b[uid] for uid in common])
    return Comparison(
        run_a=run_a, run_b=run_b, common=len(common), accuracy_a=accuracy_a,
        accuracy_b=accuracy_b,
        delta=None if accuracy_a is None or accuracy_b is None else accuracy_b - accuracy_a,
        overall_a=_accuracy(a), overall_b=_accuracy(b),
        only_in_a=len(set(by_uid_a) - set(by_uid_b)),
        only_in_b=len(set(by_uid_b) - set(by_uid_a)),
        flips=sorted(flips, key=lambda f: (f.change, f.uid)))


def compare_runs(run_a: str | Path, run_b: str | Path) -> Comparison:
    """Compare the results.jsonl of two run directories."""
    return compare_records(read_own_records(run_a), read_own_records(run_b), str(run_a),
                           str(run_b))
