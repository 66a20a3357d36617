"""Solving training tasks for learning: the evaluation runner's batched rounds, scored
against the labels, with the insights each task may see.

A `batch:` LLM that has no answers yet raises `LearningPending` out of every
step (the runner would otherwise record the item as an LLM failure): the run
stops, the requests are in the batch file, and the next run continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nl2opt.errors import Nl2OptError
from nl2opt.evaluation.runner import ItemState, Problem, evaluate_problems
from nl2opt.evaluation.scoring import score
from nl2opt.evaluation.solve_cache import SolveCache
from nl2opt.evaluation.solve_stage import SolveJob, SolvePool
from nl2opt.library.model import TrainingTask
from nl2opt.llm.batch import BatchPending
from nl2opt.llm.types import LLMBackend, LLMRequest, LLMResponse
from nl2opt.pipeline.insights import InsightProvider, PromptInsight
from nl2opt.pipeline.run import PipelineOptions, sample_outcome, vote


class LearningPending(Nl2OptError):
    """The LLM's answers are not there yet (batch mode): run the batch, then resume."""

    def __init__(self, pending: BatchPending) -> None:
        self.pending = pending
        super().__init__(str(pending))


class StopOnPending:
    """Wraps an LLM so that a pending batch stops the whole learning run."""

    def __init__(self, llm: LLMBackend) -> None:
        self.inner = llm
        self.name, self.model = llm.name, llm.model

    def generate(self, requests: list[LLMRequest]) -> list[list[LLMResponse]]:
        try:
            return self.inner.generate(requests)
        except BatchPending as pending:
            raise LearningPending(pending) from pending


@dataclass
class TaskResult:
    """What the pipeline answered for a training task, and whether the label agrees."""

    uid: str
    status: str | None = None
    objective: float | None = None
    correct: bool = False
    formulation: dict | None = None
    problems: list[str] = field(default_factory=list)
    insight_ids: list[str] = field(default_factory=list)
    llm_error: str = ""

    def summary(self) -> str:
        """One line for prompts: what solving this answer gave."""
        if self.status is None:
            return "no usable answer: " + ("; ".join(self.problems) or self.llm_error or "-")
        value = "" if self.objective is None else f", objective {self.objective:.10g}"
        return f"status {self.status}{value}"


class KeyedInsights:
    """A provider with fixed insights per problem text (for verification solves)."""

    def __init__(self, by_question: dict[str, Sequence[PromptInsight]]) -> None:
        self.by_question = by_question

    def retrieve(self, problem: str) -> Sequence[PromptInsight]:
        return list(self.by_question.get(problem, ()))


def task_result(state: ItemState, task: TrainingTask) -> TaskResult:
    tracks = state.tracks
    outcomes = [sample_outcome(track) for track in tracks]
    chosen = vote(tracks, outcomes) if tracks else None
    if chosen is None:
        return TaskResult(task.uid, llm_error=state.llm_error)
    final = outcomes[chosen.sample]
    formulation = (chosen.best[0] if chosen.best else chosen.formulation)
    attempts = [a for track in tracks for a in track.attempts]
    return TaskResult(
        uid=task.uid, status=final.termination, objective=final.objective,
        correct=score(final.termination, final.objective, task).correct,
        formulation=formulation.to_dict() if formulation is not None else None,
        problems=chosen.attempts[-1].problems if chosen.attempts else [],
        insight_ids=list(dict.fromkeys(i for a in attempts for i in a.insight_ids)),
        llm_error=state.llm_error)


def solve_tasks(tasks: Sequence[TrainingTask], llm: LLMBackend, options: PipelineOptions,
                pool: SolvePool, insights: InsightProvider | None) -> list[TaskResult]:
    """The pipeline's answer for every task (batched like an evaluation), scored."""
    if not tasks:
        return []
    finished: dict[str, ItemState] = {}
    problems = [Problem(task.uid, task.question) for task in tasks]
    evaluate_problems(problems, llm, options, SolveCache(pool),
                      lambda state: finished.__setitem__(state.problem.uid, state), insights)
    return [task_result(finished[task.uid], task) for task in tasks]


def solve_with(jobs: Sequence[tuple[TrainingTask, Sequence[PromptInsight]]], llm: LLMBackend,
               options: PipelineOptions, pool: SolvePool) -> list[TaskResult]:
    """Solve each (task, insights) job with exactly those insights shown.

    Jobs are run in waves in which every problem text occurs once, so the same
    task can be verified with several insight sets.
    """
    results: list[TaskResult | None] = [None] * len(jobs)
    remaining = list(range(len(jobs)))
    while remaining:
        wave, seen, later = [], set(), []
        for k in remaining:
            question = jobs[k][0].question
            (later if question in seen else wave).append(k)
            seen.add(question)
        provider = KeyedInsights({jobs[k][0].question: jobs[k][1] for k in wave})
        for k, result in zip(wave, solve_tasks([jobs[k][0] for k in wave], llm, options, pool,
                                               provider)):
            results[k] = result
        remaining = later
    return [result for result in results if result is not None]


def check_formulations(tasks: Sequence[TrainingTask], formulations: Sequence[dict | None],
                       options: PipelineOptions, pool: SolvePool) -> list[TaskResult]:
    """Solve given formulations (no LLM) and score them against the tasks' labels."""
    jobs = [SolveJob(id=k, formulation=f, solver=options.solver, time_limit=options.time_limit)
            for k, f in enumerate(formulations) if f is not None]
    outcomes = dict(zip((job.id for job in jobs), pool.run(jobs)))
    results = []
    for k, (task, formulation) in enumerate(zip(tasks, formulations)):
        outcome = outcomes.get(k)
        result = outcome.result if outcome is not None else None
        status = result.termination.value if result is not None else None
        objective = result.objective if result is not None else None
        results.append(TaskResult(
            uid=task.uid, status=status, objective=objective, formulation=formulation,
            correct=score(status, objective, task).correct,
            problems=outcome.problems if outcome is not None else ["not a formulation"]))
    return results
