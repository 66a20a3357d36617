"""Learning insights from failures (AlphaOPT's library learning), resumable and batchable.

Tasks go in chunks. For each chunk, against the library as it was when the
chunk started (its snapshot is journalled, so a resumed run sees the same):

1. solve every task with the library's insights (batched like an evaluation);
   correct answers count as positive for the insights they used;
2. for failures without a reference model, self-explore towards the label;
3. diagnose each failure (labels for the insights shown, existing insights that
   would have helped, 1-3 new insights);
4. verify: re-solve the task with the new insights shown; keep them only if the
   answer becomes correct, else diagnose again (up to `verify_attempts`);
5. merge near-duplicates of the chunk's new insights with the library.

Each task's outcome (its insights, statistics and journal entry) is committed
in one transaction, so a killed run loses no committed insight and a resumed
one skips finished tasks. Every LLM call of a step goes out as one batch; with
a `batch:` backend the run stops with `LearningPending` after writing them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from nl2opt.evaluation.solve_cache import Solver
from nl2opt.evaluation.solve_stage import SolvePool
from nl2opt.library.diagnose import Diagnosis, diagnosis_request, read_diagnosis
from nl2opt.library.embeddings import EmbeddingClient
from nl2opt.library.explore import self_explore
from nl2opt.library.merge import apply_merges, propose_merges, verification_jobs
from nl2opt.library.model import (
    Insight,
    InsightDraft,
    Outcome,
    Provenance,
    Status,
    TrainingTask,
)
from nl2opt.library.retrieval import LibraryRetriever, RetrievalOptions
from nl2opt.library.solving import (
    StopOnPending,
    TaskResult,
    check_formulations,
    solve_tasks,
    solve_with,
)
from nl2opt.library.store import LibraryStore
from nl2opt.llm.types import LLMBackend
from nl2opt.pipeline.run import PipelineOptions

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LearnOptions:
    run: str = "learn"  # names the journal entries: the same run resumes, another starts anew
    rounds: int = 3  # self-correction rounds when solving
    batch_size: int = 16  # tasks per chunk (one library snapshot, merging after each)
    explore_tries: int = 3
    verify_attempts: int = 2
    nearby: int = 5  # library insights the diagnosis sees besides those shown
    workers: int = 0
    memory_mb: int | None = None
    time_limit: float | None = 60.0
    solver: str | None = None
    retrieval: RetrievalOptions = RetrievalOptions()
    embeddings: EmbeddingClient | None = None  # dense ranking (shared: vectors cached)

    def pipeline(self) -> PipelineOptions:
        # The library learns from the plain loop's answers: no semantic review round.
        return PipelineOptions(rounds=self.rounds, solver=self.solver,
                               time_limit=self.time_limit, review=False)


OUTCOMES = ("correct", "learned", "rejected", "covered", "undiagnosed", "no_reference")


@dataclass
class LearnSummary:
    outcomes: dict[str, str] = field(default_factory=dict)  # task uid -> one of OUTCOMES
    insights: list[str] = field(default_factory=list)  # verified insights added
    merged: list[str] = field(default_factory=list)  # merged insights added
    skipped: int = 0  # tasks finished by an earlier run

    def count(self, outcome: str) -> int:
        return sum(1 for value in self.outcomes.values() if value == outcome)


@dataclass
class Case:
    """A failing task on its way through diagnosis and verification."""

    task: TrainingTask
    result: TaskResult
    shown: list[Insight]
    nearby: list[Insight]
    rejected: list = field(default_factory=list)
    diagnosis: Diagnosis | None = None


def _chunk_key(tasks: Sequence[TrainingTask]) -> str:
    text = "\n".join(sorted(task.uid for task in tasks))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class Learner:
    """One learning run over a library store (see the module docstring)."""

    def __init__(self, store: LibraryStore, llm: LLMBackend, options: LearnOptions = LearnOptions(),
                 progress: Progress | None = None, solve_pool: Solver | None = None) -> None:
        self.store = store
        self.solve_pool = solve_pool  # None: a local SolvePool for each learn()
        self.llm = StopOnPending(llm)
        self.llm_name = f"{llm.name}:{llm.model}"
        self.options = options
        self.note = progress or (lambda line: None)
        self.summary = LearnSummary()

    def key(self, name: str) -> str:
        return f"{self.options.run}/{name}"

    def learn(self, tasks: Sequence[TrainingTask]) -> LearnSummary:
        options = self.options
        pool_context = (SolvePool(options.workers, options.memory_mb, options.time_limit)
                        if self.solve_pool is None else nullcontext(self.solve_pool))
        with pool_context as self.pool:
            size = max(1, options.batch_size)
            for start in range(0, len(tasks), size):
                self.learn_chunk(list(tasks[start:start + size]))
        return self.summary

    def learn_chunk(self, chunk: list[TrainingTask]) -> None:
        key = self.key(f"chunk:{_chunk_key(chunk)}")
        state = self.store.journal_get(key)
        if state is None:
            state = {"snapshot": [i.id for i in self.store.list(Status.verified)],
                     "merged": False}
            self.store.journal_put(key, state)
        done = {t.uid: self.store.journal_get(self.key(f"task:{t.uid}")) for t in chunk}
        todo = [task for task in chunk if done[task.uid] is None]
        self.summary.skipped += len(chunk) - len(todo)
        if state["merged"]:
            return
        snapshot = [i for i in map(self.store.get, state["snapshot"])
                    if i is not None and i.status is Status.verified]
        retriever = LibraryRetriever(snapshot, self.store.taxonomy(), self.llm,
                                     self.options.retrieval, self.options.embeddings)
        self.note(f"solving {len(todo)} task(s) with {len(snapshot)} insight(s)")
        cases = self.first_answers(todo, retriever)
        cases = self.with_references(cases)
        self.diagnose_and_verify(cases)
        self.merge(chunk)
        self.store.journal_put(key, {**state, "merged": True})

    # -- 1. first answers ---------------------------------------------------------

    def first_answers(self, tasks: list[TrainingTask], retriever: LibraryRetriever
                      ) -> list[Case]:
        given = [t for t in tasks if t.failing_formulation is not None]
        asked = [t for t in tasks if t.failing_formulation is None]
        results = dict(zip([t.uid for t in asked], solve_tasks(
            asked, self.llm, self.options.pipeline(), self.pool, retriever)))
        results.update(zip([t.uid for t in given], check_formulations(
            given, [t.failing_formulation for t in given], self.options.pipeline(), self.pool)))
        by_id = {insight.id: insight for insight in retriever.insights}
        failing = [t for t in tasks if not results[t.uid].correct]
        nearby = retriever.candidates_many([t.question for t in failing]) if failing else []
        cases = []
        for task in tasks:
            result = results[task.uid]
            if result.correct:
                self.commit(task, "correct", [(i, Outcome.positive) for i in result.insight_ids])
                continue
            shown = [by_id[i] for i in result.insight_ids if i in by_id]
            others = [i for i in nearby[failing.index(task)] if i not in shown]
            cases.append(Case(task, result, shown, others[:self.options.nearby]))
        return cases

    # -- 2. references --------------------------------------------------------------

    def with_references(self, cases: list[Case]) -> list[Case]:
        answer_only = [c for c in cases if not c.task.reference]
        if answer_only and self.options.explore_tries > 0:
            self.note(f"self-exploring {len(answer_only)} answer-only task(s)")
            found = self_explore([c.task for c in answer_only], [c.result for c in answer_only],
                                 self.llm, self.options.pipeline(), self.pool,
                                 self.options.explore_tries)
            for case in answer_only:
                if case.task.uid in found:
                    case.task = case.task.model_copy(update={
                        "reference": _compact(found[case.task.uid]),
                        "reference_kind": "formulation"})
        for case in cases:
            if not case.task.reference:
                self.commit(case.task, "no_reference", [])
        return [case for case in cases if case.task.reference]

    # -- 3 and 4. diagnosis and verification ----------------------------------------

    def diagnose_and_verify(self, cases: list[Case]) -> None:
        taxonomy = [entry.path.label for entry in self.store.taxonomy()]
        for attempt in range(self.options.verify_attempts):
            if not cases:
                return
            self.note(f"diagnosing {len(cases)} failure(s), attempt {attempt + 1}")
            proposed = self.diagnose(cases, taxonomy)
            self.note(f"verifying the insights proposed for {len(proposed)} task(s)")
            jobs = [(case, [i for i in case.shown if i.id not in case.diagnosis.negative_ids]
                     + new) for case, new in proposed]
            results = solve_with([(case.task, shown) for case, shown in jobs], self.llm,
                                 self.options.pipeline(), self.pool)
            cases = []
            for (case, new), result in zip(proposed, results):
                if result.correct:
                    self.commit(case.task, "learned", case.diagnosis.outcomes, new)
                else:
                    case.rejected += [_draft(i) for i in new]
                    cases.append(case)
        for case in cases:
            self.commit(case.task, "rejected", case.diagnosis.outcomes if case.diagnosis else [])

    def diagnose(self, cases: list[Case], taxonomy: list[str]
                 ) -> list[tuple[Case, list[Insight]]]:
        """Diagnose every case in one batch; commit those with nothing to verify."""
        requests = [diagnosis_request(c.task, c.result.formulation, c.result.summary(),
                                      c.result.problems, c.shown, c.nearby, taxonomy,
                                      c.rejected) for c in cases]
        replies = self.llm.generate(requests)
        proposed = []
        for case, request, reply in zip(cases, requests, replies):
            case.diagnosis = read_diagnosis(reply[0], case.shown, case.nearby)
            if not case.diagnosis.proposals:
                outcome = "covered" if case.diagnosis.covered else "undiagnosed"
                self.commit(case.task, outcome, case.diagnosis.outcomes)
                continue
            provenance = Provenance(source_tasks=[case.task.uid], dataset=case.task.dataset,
                                    run=self.options.run, llm=self.llm_name,
                                    prompt=f"{request.prompt_id}@{request.prompt_hash}")
            new = [draft.to_insight(provenance, Status.verified)
                   for draft in case.diagnosis.proposals]
            proposed.append((case, new))
        return proposed

    # -- 5. merging ----------------------------------------------------------------------

    def merge(self, chunk: list[TrainingTask]) -> None:
        entries = [self.store.journal_get(self.key(f"task:{t.uid}")) or {} for t in chunk]
        new = [i for e in entries for i in map(self.store.get, e.get("insights", []))
               if i is not None and i.status is Status.verified]
        if not new:
            return
        new_ids = {i.id for i in new}
        library = [i for i in self.store.list(Status.verified) if i.id not in new_ids]
        proposals = propose_merges(new, library, self.llm)
        if not proposals:
            return
        self.note(f"re-verifying {len(proposals)} merge proposal(s)")
        jobs = [(k, job) for k, p in enumerate(proposals) for job in verification_jobs(
            p, self.store)]
        results = solve_with([job for _, job in jobs], self.llm, self.options.pipeline(),
                             self.pool)
        fixed: dict[int, set[str]] = {}
        for (k, (task, _)), result in zip(jobs, results):
            if result.correct:
                fixed.setdefault(k, set()).add(task.uid)
        merged = apply_merges(self.store, proposals, fixed, self.llm_name, self.options.run)
        self.summary.merged += [i.id for i in merged]

    # -- committing ------------------------------------------------------------------------

    def commit(self, task: TrainingTask, outcome: str,
               outcomes: Sequence[tuple[str, Outcome]], insights: Sequence[Insight] = ()
               ) -> None:
        """A task's insights, statistics and journal entry, all in one transaction."""
        with self.store.transaction():
            self.store.put_task(task)
            for insight in insights:
                insight.stats.add(Outcome.positive, task.uid)
                self.store.add(insight, f"learned from {task.uid} (run {self.options.run})")
            for insight_id, result in outcomes:
                self.store.record_outcomes(insight_id, [(result, task.uid)])
            self.store.journal_put(self.key(f"task:{task.uid}"),
                                   {"outcome": outcome, "insights": [i.id for i in insights]})
        self.summary.outcomes[task.uid] = outcome
        self.summary.insights += [i.id for i in insights]


def _draft(insight: Insight) -> InsightDraft:
    return InsightDraft(taxonomy=insight.taxonomy, condition=insight.condition,
                        explanation=insight.explanation, example=insight.example)


def _compact(formulation: dict) -> str:
    return json.dumps(formulation, ensure_ascii=False, separators=(",", ":"))


def learn(store: LibraryStore, llm: LLMBackend, tasks: Sequence[TrainingTask],
          options: LearnOptions = LearnOptions(), progress: Progress | None = None,
          solve_pool: Solver | None = None) -> LearnSummary:
    """Learn from `tasks` into `store` (see the module docstring); `solve_pool` runs the
    solves elsewhere (e.g. `nl2opt.cluster.solve_pool.RaySolvePool`)."""
    return Learner(store, llm, options, progress, solve_pool).learn(tasks)
