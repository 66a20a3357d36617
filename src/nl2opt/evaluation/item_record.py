"""An evaluation record from a finished item: the vote, the score against the label,
what the first round alone would have answered, the failure category, the cost.

The label is read here, after the loop has finished with the item, never before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nl2opt.datasets.types import DatasetItem
from nl2opt.evaluation.records import EvalRecord, SampleSummary, question_hash
from nl2opt.evaluation.run_dir import now
from nl2opt.evaluation.semantic import prompt_ids, semantic_fields
from nl2opt.pipeline.report import SampleOutcome
from nl2opt.pipeline.run import Track, sample_outcome, vote

if TYPE_CHECKING:
    from nl2opt.evaluation.runner import ItemState

ANSWERED = ("optimal", "infeasible", "unbounded", "infeasible_or_unbounded")


@dataclass(frozen=True)
class RecordContext:
    llm: str
    dataset_version: str
    dataset_file_hash: str
    nl2opt_version: str


def build_record(state: ItemState, item: DatasetItem, context: RecordContext) -> EvalRecord:
    """Score a finished item against its label and collect everything a report needs."""
    from nl2opt.evaluation.scoring import score

    tracks = state.tracks
    if state.decision is not None:  # the vote made when the item finished
        outcomes, chosen = state.decision.outcomes, state.decision.chosen
    else:
        outcomes = [sample_outcome(track) for track in tracks]
        chosen = vote(tracks, outcomes) if tracks else None
    final = outcomes[chosen.sample] if chosen is not None else None
    status, objective = (final.termination, final.objective) if final else (None, None)
    result = final_result(chosen) if chosen is not None else None
    first = first_answer(tracks)
    scored = score(status, objective, item)
    first_score = score(first.termination, first.objective, item) if first else None
    attempts = [a for track in tracks for a in track.attempts]
    sample = chosen.sample if chosen is not None else 0
    last_problems = chosen.attempts[-1].problems if chosen and chosen.attempts else []
    return EvalRecord(
        uid=item.uid, dataset=item.dataset, subset=item.subset,
        question_sha256=question_hash(item.question), status=status, objective=objective,
        bound=result.bound if result else None, gap=result.gap if result else None,
        problem_class=(state.best_class if chosen and chosen.best else
                       state.result_class).get(sample),
        expected_status=item.answer_status, expected_answer=item.answer,
        correct=scored.correct, scored=scored.scored, relative_error=scored.relative_error,
        conventions=dict(scored.conventions),
        category=failure_category(status, scored.scored, scored.correct,
                                  state.failure.get(sample), state.llm_error),
        error=(state.llm_error or " | ".join(last_problems))[:2000],
        attempts=len(attempts), rounds_used=max((a.round for a in attempts), default=0),
        first_status=first.termination if first else None,
        first_objective=first.objective if first else None,
        first_correct=bool(first_score and first_score.correct),
        samples=[SampleSummary(termination=o.termination, objective=o.objective)
                 for o in outcomes],
        agreement=(final.votes / len(tracks)) if final and len(tracks) > 1 else None,
        prompt_tokens=sum(a.prompt_tokens for a in attempts),
        completion_tokens=sum(a.completion_tokens for a in attempts),
        llm_seconds=sum(a.llm_seconds for a in attempts),
        check_seconds=sum(a.check_seconds for a in attempts),
        solve_seconds=sum(a.solve_seconds for a in attempts), cpu_seconds=state.cpu_seconds,
        llm=context.llm, prompts=prompt_ids(attempts),
        insight_ids=sorted({i for a in attempts for i in a.insight_ids}),
        dataset_version=context.dataset_version, dataset_file_hash=context.dataset_file_hash,
        nl2opt_version=context.nl2opt_version, finished_at=now(),
        **semantic_fields(state, item))


def final_result(track: Track):
    """The result `sample_outcome` reports for a track: its best, else its last."""
    return track.best[1] if track.best else track.result


def first_answer(tracks: list[Track]) -> SampleOutcome | None:
    """The answer round 0 alone would have given (the same vote over first attempts)."""
    firsts = [SampleOutcome(sample=t.sample, termination=t.attempts[0].termination,
                            objective=t.attempts[0].objective,
                            issues=len(t.attempts[0].problems) + t.attempts[0].warnings)
              for t in tracks if t.attempts]
    if len(firsts) != len(tracks) or not tracks:
        return None
    chosen = vote(tracks, firsts)
    return firsts[chosen.sample] if chosen is not None else None


def failure_category(status: str | None, scored: bool, correct: bool,
                     stage_failure: str | None, llm_error: str = "") -> str:
    """One of records.FAILURE_CATEGORIES for a finished item."""
    if status is None:
        return stage_failure or ("llm_error" if llm_error else "no_parse")
    if correct:
        return "correct"
    if not scored and status in ANSWERED:
        return "unscored"
    if status in ("infeasible", "infeasible_or_unbounded"):
        return "infeasible"
    if status == "unbounded":
        return "unbounded"
    if status in ("time_limit", "interrupted"):
        return "timeout"
    if status != "optimal":
        return "solver_error"
    return "wrong_objective"
