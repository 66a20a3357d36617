"""Seeding from AlphaOPT's published library (Minw913/AlphaOPT, MIT).

`library.json` holds insights with a taxonomy ({stage: {level 1: [level 2]}}),
condition, explanation, example (LaTeX or gurobipy), source task ids and
AlphaOPT's per-task statistics. Domain-modelling and general-formulation
insights are kept; code-implementation ones (gurobipy API syntax, data I/O)
are dropped, since nl2opt writes no solver code by hand. Insights whose source
is a test-split item are dropped too.

Imported insights start as candidates. With an LLM, each example is rewritten
into nl2opt's expression language (or the insight is dropped when its lesson is
about code), and each insight is verified like a learned one: re-solving its
source tasks (from AlphaOPT's training splits) with it shown must give the
right answers; those that pass become verified, the rest stay candidates for a
person to approve or retire.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nl2opt.evaluation.solve_stage import SolvePool
from nl2opt.library.model import (
    Insight,
    InsightDraft,
    InsightStats,
    Outcome,
    Provenance,
    Stage,
    Status,
    TaxonomyPath,
    TrainingTask,
)
from nl2opt.library.solving import StopOnPending, solve_with
from nl2opt.library.store import LibraryError, LibraryStore
from nl2opt.library.tasks import tasks_from_file
from nl2opt.llm.jsontext import extract_json
from nl2opt.llm.types import LLMBackend, LLMRequest, Sampling
from nl2opt.pipeline.run import PipelineOptions
from nl2opt.prompts import render_prompt

EXAMPLE_PROMPT = "library_example.v1"
KEPT_STAGES = {"Domain Modeling": Stage.domain, "General Formulation": Stage.formulation}
MAX_VERIFY_TASKS = 3  # source tasks re-solved per insight


@dataclass
class ImportSummary:
    imported: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count
    verified: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def split_tasks(split_dir: Path | None) -> tuple[dict[str, TrainingTask], set[str]]:
    """AlphaOPT task id -> training task (from *_train.json), and the test-split task ids."""
    train: dict[str, TrainingTask] = {}
    test: set[str] = set()
    if split_dir is None or not split_dir.is_dir():
        return train, test
    for path in sorted(split_dir.glob("*_test.json")):
        test |= {str(record.get("task_id")) for record in json.loads(path.read_text())}
    for path in sorted(split_dir.glob("*_train.json")):
        for task in tasks_from_file(path):
            train[task.uid.split("/", 1)[1]] = task
    return train, test


def _paths(taxonomy: Any) -> list[tuple[str, str, str]]:
    return [(stage, level1, level2) for stage, levels in (taxonomy or {}).items()
            for level1, leaves in (levels or {}).items() for level2 in leaves or []]


def _ids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if v not in (None, "")]


def convert(record: dict[str, Any], train: dict[str, TrainingTask], test: set[str],
            summary: ImportSummary) -> Insight | None:
    """An AlphaOPT record as a candidate insight, or None (counted as dropped)."""
    paths = _paths(record.get("taxonomy"))
    if not paths:
        summary.drop("no taxonomy")
        return None
    stage, level1, level2 = paths[0]
    if stage not in KEPT_STAGES:
        summary.drop(f"{stage} (solver-API specific)")
        return None
    sources = _ids(record.get("task_id"))
    if any(source in test for source in sources):
        summary.drop("sourced from a test-split item")
        return None
    draft = InsightDraft(taxonomy=TaxonomyPath(stage=KEPT_STAGES[stage], level1=level1,
                                               level2=level2),
                         condition=str(record.get("condition") or "").strip() or "-",
                         explanation=str(record.get("explanation") or "").strip() or "-",
                         example=str(record.get("example") or ""))
    uid = {tid: train[tid].uid if tid in train else f"alphaopt/{tid}" for tid in sources}
    provenance = Provenance(origin="alphaopt", source_tasks=[uid[t] for t in sources],
                            dataset="alphaopt", upstream_id=str(record.get("insight_id", "")))
    insight = draft.to_insight(provenance, Status.candidate)
    insight.stats = _stats(record.get("distribution") or {}, train)
    return insight


def _stats(distribution: dict[str, Any], train: dict[str, TrainingTask]) -> InsightStats:
    stats = InsightStats()
    for outcome in Outcome:
        for task_id in _ids(distribution.get(outcome.value) or []):
            stats.add(outcome, train[task_id].uid if task_id in train else f"alphaopt/{task_id}")
    return stats


def example_request(insight: Insight) -> LLMRequest:
    prompt = render_prompt(EXAMPLE_PROMPT, insight=insight)
    schema = {"type": "object", "required": ["applies", "example"], "properties": {
        "applies": {"type": "boolean"}, "example": {"type": "string"}}}
    return LLMRequest(messages=prompt.messages, json_schema=schema, schema_name="example",
                      prompt_id=prompt.id, prompt_hash=prompt.hash,
                      sampling=Sampling(temperature=0.0, max_tokens=1024))


def import_alphaopt(store: LibraryStore, path: str | Path, llm: LLMBackend | None = None,
                    split_dir: str | Path | None = None,
                    options: PipelineOptions = PipelineOptions(rounds=1, review=False),
                    workers: int = 0) -> ImportSummary:
    """Import AlphaOPT's library.json into `store` (see the module docstring)."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise LibraryError(f"cannot read AlphaOPT's library from {path}: {error}") from error
    if not isinstance(records, list):
        raise LibraryError(f"{path} is not AlphaOPT's library.json (a JSON array of insights)")
    default_split = path.parent.parent / "optimization_tasks" / "split"
    train, test = split_tasks(Path(split_dir) if split_dir else default_split)
    summary = ImportSummary()
    insights = [i for i in (convert(r, train, test, summary) for r in records) if i is not None]
    with store.transaction():
        for insight in insights:
            store.add(insight, f"imported from AlphaOPT (insight {insight.provenance.upstream_id})")
    summary.imported = [i.id for i in insights]
    if llm is not None:
        _rewrite_and_verify(store, StopOnPending(llm), insights, train, summary, options, workers)
    return summary


def _rewrite_and_verify(store: LibraryStore, llm: LLMBackend, insights: Sequence[Insight],
                        train: dict[str, TrainingTask], summary: ImportSummary,
                        options: PipelineOptions, workers: int) -> None:
    pending = [i for i in insights if store.require(i.id).status is Status.candidate]
    replies = llm.generate([example_request(i) for i in pending])
    kept = []
    for insight, reply in zip(pending, replies):
        payload = reply[0].parsed if reply[0].parsed is not None else extract_json(reply[0].text)
        if not isinstance(payload, dict) or not payload.get("applies"):
            store.retire(insight.id, "its example is about solver code, not the model")
            summary.drop("example about solver code (LLM)")
            continue
        kept.append(store.edit(insight.id, example=str(payload.get("example") or ""),
                               reason="example rewritten in nl2opt's language"))
    by_uid = {task.uid: task for task in train.values()}
    jobs = [(insight, by_uid[uid]) for insight in kept
            for uid in insight.provenance.source_tasks[:MAX_VERIFY_TASKS] if uid in by_uid]
    with SolvePool(workers, None, options.time_limit) as pool:
        results = solve_with([(task, [insight]) for insight, task in jobs], llm, options, pool)
    passed: dict[str, bool] = {}
    for (insight, task), result in zip(jobs, results):
        passed[insight.id] = passed.get(insight.id, True) and result.correct
        store.put_task(task)
    for insight in kept:
        if passed.get(insight.id):
            store.set_status(insight.id, Status.verified, "verified on its AlphaOPT source "
                                                          "task(s)")
            summary.verified.append(insight.id)
        else:
            summary.unverified.append(insight.id)
