"""The semantic stages of an evaluation run, and what the records keep of them.

`review_stage` is one more batched LLM round after each solve stage: every
track that has just solved cleanly is reviewed once (fact coverage, then the
LLM), exactly as `nl2opt.pipeline.run.review_round` does for one problem. A
batch backend that has no answer yet leaves the item waiting (not finished,
not recorded), so `--resume` continues it once the batch has run.
`decide` votes once per finished item (by equivalence or objective value) and
`alternatives_stage` solves the chosen answer's interpretation variants in the
solve pool (through the run's solve cache). `semantic_fields` scores all of it against the label, after the
loop: accuracy before and after review, objective-value vs equivalence voting,
and whether the label matched a non-primary interpretation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nl2opt.datasets.types import DatasetItem
from nl2opt.evaluation.solve_cache import SolveCache, solve_key
from nl2opt.evaluation.solve_stage import SolveJob
from nl2opt.llm.batch import BatchPending
from nl2opt.llm.types import LLMBackend, LLMError
from nl2opt.pipeline.alternatives import (
    AlternativeOutcome,
    patched_variants,
    primary_outcome,
    variant_outcome,
)
from nl2opt.pipeline.report import Attempt, SampleOutcome, VoteClass
from nl2opt.pipeline.review import review_request, wants_review
from nl2opt.pipeline.run import (
    PipelineOptions,
    Track,
    choose_answer,
    finish_review,
    sample_outcome,
    start_review,
    vote,
)

if TYPE_CHECKING:
    from nl2opt.evaluation.runner import ItemState


@dataclass
class Decision:
    """The vote over an item's samples, made once when the item finishes."""

    chosen: Track | None
    outcomes: list[SampleOutcome]
    method: str
    classes: list[VoteClass]
    by_objective: SampleOutcome | None  # what voting by objective value alone gives


def review_stage(states: list[ItemState], llm: LLMBackend, options: PipelineOptions,
                 round_number: int, generate: Callable) -> None:
    """Review every cleanly solved, not yet reviewed track of every open item in one batch."""
    if not options.reviewing:
        return
    asks = []
    for state in states:
        if state.llm_error:
            continue
        for track in state.tracks:
            if track.done and wants_review(track.result, track.reviewed, round_number,
                                           options.rounds):
                record = start_review(state.problem.question, track, round_number)
                if record is not None:
                    asks.append((state, track, record))
    requests = [review_request(state.problem.question, track.formulation, track.result,
                               structured=options.structured) for state, track, _ in asks]
    answers, seconds = generate(llm, requests)
    for (state, track, record), request, answer in zip(asks, requests, answers):
        if isinstance(answer, BatchPending):
            state.waiting[track.sample] = request  # the item stays open, unrecorded
            state.batch_notice = answer
        elif isinstance(answer, LLMError):
            record.error = f"the review request failed: {answer}"
        else:
            finish_review(track, record, request, answer[0], seconds)


def decide(state: ItemState, options: PipelineOptions) -> Decision:
    """Vote over the item's samples (once) and note what objective voting would give."""
    tracks = state.tracks
    outcomes = [sample_outcome(track) for track in tracks]
    plain = [outcome.model_copy() for outcome in outcomes]
    by_objective = vote(tracks, plain) if tracks else None
    chosen, method, classes = choose_answer(tracks, outcomes, options) if tracks else \
        (None, "", [])
    return Decision(chosen, outcomes, method if len(tracks) > 1 else "", classes,
                    plain[by_objective.sample] if by_objective is not None else None)


def alternatives_stage(states: list[ItemState], solves: SolveCache,
                       options: PipelineOptions) -> None:
    """Decide each finished item's answer, then solve its interpretation variants in the
    pool; the outcomes go to `state.alternatives` (primary first in each choice)."""
    plans, jobs = [], []
    for state in states:
        state.decision = decide(state, options)
        chosen = state.decision.chosen
        if not (options.alternatives and chosen and chosen.alternatives):
            continue
        formulation, result = chosen.best or (chosen.formulation, chosen.result)
        for alternative in chosen.alternatives:
            variants = patched_variants(formulation, alternative)
            plans.append((state, alternative, result, variants, len(jobs)))
            jobs += [SolveJob(id=len(jobs) + k, formulation=patched.to_dict(),
                              solver=options.solver, time_limit=options.time_limit)
                     for k, (_, patched, _) in enumerate(v for v in variants if v[1])]
    outcomes = solves.run(jobs, [solve_key(job) for job in jobs]) if jobs else []
    for state, alternative, result, variants, first in plans:
        solved = iter(outcomes[first:])
        results = [primary_outcome(alternative, result.termination.value if result else None,
                                   result.objective if result else None)]
        for variant, patched, error in variants:
            outcome = next(solved) if patched is not None else None
            answer = outcome.result if outcome else None
            results.append(variant_outcome(
                variant, patched, error, answer.termination.value if answer else None,
                answer.objective if answer else None, outcome.problems if outcome else None))
        state.alternatives.append(AlternativeOutcome(choice=alternative.choice,
                                                     reason=alternative.reason,
                                                     variants=results))


def semantic_fields(state: ItemState, item: DatasetItem) -> dict[str, Any]:
    """The record's fields about review, voting and alternatives, scored against the label."""
    from nl2opt.evaluation.scoring import score

    decision: Decision | None = state.decision
    reviews = [a.review for t in state.tracks for a in t.attempts if a.review is not None]
    before = prereview_answer(decision.chosen if decision else
                              (state.tracks[0] if state.tracks else None))
    fields: dict[str, Any] = {
        "review_enabled": any(a.review_enabled for t in state.tracks for a in t.attempts),
        "reviews": len(reviews),
        "review_findings": sum(len(r.feedback) for r in reviews),
        "prereview_status": before.termination if before else None,
        "prereview_objective": before.objective if before else None,
        "prereview_correct": bool(before and score(before.termination, before.objective,
                                                   item).correct),
    }
    if decision is not None and decision.method:
        by_value = decision.by_objective
        fields.update(
            vote_method=decision.method,
            vote_classes=[{"samples": c.samples, "status": c.termination,
                           "objective": c.objective} for c in decision.classes],
            objective_vote_status=by_value.termination if by_value else None,
            objective_vote_objective=by_value.objective if by_value else None,
            objective_vote_correct=bool(by_value and score(
                by_value.termination, by_value.objective, item).correct))
    fields["alternatives"] = [
        {"choice": choice.choice, "variant": v.name, "primary": v.primary,
         "status": v.termination, "objective": v.objective, "error": v.error,
         "correct": score(v.termination, v.objective, item).correct if not v.error else False}
        for choice in state.alternatives for v in choice.variants]
    fields["alternative_matched"] = any(a["correct"] and not a["primary"]
                                        for a in fields["alternatives"])
    return fields


def prompt_ids(attempts: list[Attempt]) -> list[str]:
    """'prompt id@template hash' of every prompt an item used, reviews included."""
    used = {f"{a.prompt_id}@{a.prompt_hash}" for a in attempts}
    used |= {f"{a.review.prompt_id}@{a.review.prompt_hash}" for a in attempts
             if a.review is not None and a.review.prompt_id}
    return sorted(used)


def prereview_answer(chosen: Track | None) -> SampleOutcome | None:
    """The chosen sample's answer before the semantic review changed anything."""
    if chosen is None:
        return None
    return chosen.prereview or sample_outcome(chosen)
