"""Label audit: find benchmark items whose label is probably wrong.

Two kinds of evidence, reported separately and never used to change a score:

- `disputed_label`: another published version of the same problem (the
  item's `other_versions`, paired by question text when the data was staged)
  gives a different answer.
- `samples_disagree_with_label`: nl2opt's independent formulation samples
  agree with each other (at least 2 samples, and a group of >= 2 samples that
  is >= 2/3 of *all* samples, failed ones included, agrees within the
  canonical tolerance) but the agreed answer is wrong by the canonical scorer.
- `consensus_for_unlabeled`: the same consensus on an item without a label
  (a candidate label, nothing more).

Run records are the JSONL lines part B's runner writes to RUN_DIR/results.jsonl:
dicts with at least `uid`, `samples` (list of {termination, objective}) and the
run's final answer (`answer`, or `status` + `objective` as nl2opt's runner writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nl2opt.datasets.loader import parse_answer
from nl2opt.datasets.types import Dataset, DatasetItem
from nl2opt.errors import DataError
from nl2opt.evaluation.scoring import normalize_status, objectives_match, score

MIN_SAMPLES = 2
MIN_AGREEING = 2
MIN_SHARE = 2 / 3

_STATUS_OUTCOMES = ("infeasible", "unbounded", "infeasible_or_unbounded")


@dataclass(frozen=True)
class AuditFinding:
    """One piece of evidence against (or for a missing) label."""

    uid: str
    kind: str
    label: float | None
    label_status: str
    message: str
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Consensus:
    """The outcome most independent samples agree on."""

    status: str
    objective: float | None
    agreeing: int
    total: int


@dataclass(frozen=True)
class RunRecords:
    """Records read from a results.jsonl, keyed by uid, plus what was skipped."""

    by_uid: dict[str, dict[str, Any]]
    skipped_lines: list[int]


# ---------------------------------------------------------------- consensus

def _sample_outcome(sample: Mapping[str, Any]) -> tuple[str, float | None] | None:
    """(status, objective) of a usable sample; None for failed/unknown ones."""
    status = normalize_status(sample.get("termination", sample.get("status")))
    if status == "optimal":
        value, kind = parse_answer(sample.get("objective"))
        return ("optimal", value) if kind == "optimal" else None
    if status in _STATUS_OUTCOMES:
        return status, None
    return None


def sample_consensus(samples: Iterable[Mapping[str, Any]]) -> Consensus | None:
    """The consensus of independent samples, or None when they do not agree enough.

    Optimal samples agree when their objectives match within the canonical
    tolerance (measured from the group's representative sample); status
    samples agree when the statuses are equal. Needs >= 2 samples and a group
    of >= 2 that is >= 2/3 of all samples (failed samples count in the total).
    """
    samples = [s for s in samples if isinstance(s, Mapping)]
    total = len(samples)
    if total < MIN_SAMPLES:
        return None
    outcomes = [o for o in (_sample_outcome(s) for s in samples) if o is not None]
    best: Consensus | None = None
    for status, objective in outcomes:
        agreeing = sum(1 for other_status, other in outcomes if other_status == status
                       and (status != "optimal" or objectives_match(other, objective)))
        if best is None or agreeing > best.agreeing:
            best = Consensus(status, objective, agreeing, total)
    if best is None or best.agreeing < MIN_AGREEING or best.agreeing < MIN_SHARE * total:
        return None
    return best


# ---------------------------------------------------------------- findings

def _describe(status: str | None, value: float | None) -> str:
    if status in (None, "optimal"):
        return "none" if value is None else f"{value:g}"
    return status


def disputed_label_finding(item: DatasetItem) -> AuditFinding | None:
    """A finding when some other published version gives a different answer."""
    disagreeing = [v for v in item.other_versions if v.get("agrees") is False]
    if not disagreeing:
        return None
    evidence = [{"file": v.get("file"), "answer_raw": v.get("answer_raw"),
                 "native_id": v.get("native_id"), "match": v.get("match")}
                for v in disagreeing]
    others = "; ".join(f"{e['file']}: {_short(e['answer_raw'])}" for e in evidence)
    return AuditFinding(
        uid=item.uid, kind="disputed_label", label=item.answer,
        label_status=item.answer_status,
        message=f"label {_describe(item.answer_status, item.answer)} disputed by "
                f"{len(evidence)} other version(s): {others}",
        evidence=evidence)


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


def _versions_matching(item: DatasetItem, consensus: Consensus) -> list[str]:
    """Other published versions whose answer equals the consensus."""
    matching = []
    for version in item.other_versions:
        value, status = parse_answer(version.get("answer_raw"))
        same = (objectives_match(value, consensus.objective) if consensus.status == "optimal"
                else status == consensus.status)
        if same:
            matching.append(str(version.get("file")))
    return matching


def _run_answer(record: Mapping[str, Any]) -> Any:
    """The run's final answer: an `answer` field, else the record's status/objective."""
    if "answer" in record:
        return record["answer"]
    return {"status": record.get("status"), "objective": record.get("objective")}


def samples_finding(item: DatasetItem, record: Mapping[str, Any]) -> AuditFinding | None:
    """A finding when the run's samples agree with each other but not with the label."""
    samples = record.get("samples") or []
    consensus = sample_consensus(samples) if isinstance(samples, list) else None
    if consensus is None:
        return None
    verdict = score(consensus.status, consensus.objective, item)
    if verdict.scored and verdict.correct:
        return None
    agreed = _describe(consensus.status, consensus.objective)
    share = f"{consensus.agreeing}/{consensus.total} samples agree on {agreed}"
    evidence: list[dict[str, Any]] = [{
        "consensus_status": consensus.status, "consensus_objective": consensus.objective,
        "agreeing": consensus.agreeing, "samples": consensus.total,
        "run_answer": _run_answer(record)}]
    matching = _versions_matching(item, consensus)
    also = f"; matches {', '.join(matching)}" if matching else ""
    if matching:
        evidence[0]["matching_versions"] = matching
    if not verdict.scored:
        return AuditFinding(uid=item.uid, kind="consensus_for_unlabeled", label=None,
                            label_status=item.answer_status,
                            message=f"unlabeled; {share}{also}", evidence=evidence)
    return AuditFinding(
        uid=item.uid, kind="samples_disagree_with_label", label=item.answer,
        label_status=item.answer_status,
        message=f"label {_describe(item.answer_status, item.answer)}, but {share}{also}",
        evidence=evidence)


def audit(dataset: Dataset | Iterable[DatasetItem],
          run_records: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]] | None
          = None) -> list[AuditFinding]:
    """Every finding for the dataset's items, in item order (disputes first per item).

    `run_records` is a mapping uid -> record or an iterable of records (the
    last record of a uid wins); records for uids not in the dataset are ignored.
    """
    items = dataset.items if isinstance(dataset, Dataset) else list(dataset)
    records = _index_records(run_records)
    findings: list[AuditFinding] = []
    for item in items:
        disputed = disputed_label_finding(item)
        if disputed is not None:
            findings.append(disputed)
        record = records.get(item.uid)
        if record is not None:
            from_samples = samples_finding(item, record)
            if from_samples is not None:
                findings.append(from_samples)
    return findings


def _index_records(run_records: Any) -> dict[str, Mapping[str, Any]]:
    if run_records is None:
        return {}
    if isinstance(run_records, Mapping):
        return dict(run_records)
    return {str(r["uid"]): r for r in run_records if isinstance(r, Mapping) and "uid" in r}


def count_by_kind(findings: Iterable[AuditFinding]) -> dict[str, int]:
    """Number of findings per kind."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return counts


# ---------------------------------------------------------------- run records

def read_run_records(path: str | Path) -> RunRecords:
    """Records from a run dir's results.jsonl (or that file itself), read tolerantly.

    Lines that are not JSON objects with a `uid` (a partial last line from an
    interrupted run, a line cut by a crash) are skipped and their numbers
    returned; a later record for the same uid replaces an earlier one, so
    resumed runs read correctly.
    """
    path = Path(path)
    file = path / "results.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"no run results at {file}; pass the run directory that holds "
                        "results.jsonl (or the file itself).")
    by_uid: dict[str, dict[str, Any]] = {}
    skipped: list[int] = []
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                skipped.append(number)
                continue
            if not isinstance(record, dict) or "uid" not in record:
                skipped.append(number)
                continue
            by_uid[str(record["uid"])] = record
    return RunRecords(by_uid, skipped)
