"""Forward modelling: nl2opt's own pipeline formulates the synthetic texts again.

The rounds are the evaluation runner's batched stages (one LLM call per round
for every open problem, then validate/compile/solve/check in the solve pool,
repair prompts from the feedback, majority vote), with one difference: a
request an offline batch has not answered yet parks its problem ("waiting")
instead of failing it, so a `batch:` run stops cleanly and resumes later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nl2opt.evaluation.runner import ItemState, PendingAnswer, Problem, read_answer, solve_stage
from nl2opt.evaluation.solve_cache import SolveCache
from nl2opt.evaluation.solve_stage import SolvePool
from nl2opt.llm.types import LLMError, LLMRequest
from nl2opt.pipeline.run import (
    PipelineOptions,
    Track,
    formulation_request,
    repair_request,
    sample_outcome,
    vote,
)
from nl2opt.synthesis.llm_calls import AnswerCache


@dataclass
class Recovered:
    """What the pipeline made of one text."""

    formulation: dict | None
    status: str | None = None
    objective: float | None = None
    failure: str = ""
    prompts: list[str] = field(default_factory=list)


def forward_model(problems: list[Problem], cache: AnswerCache, options: PipelineOptions,
                  pool: SolvePool) -> tuple[dict[str, Recovered], set[str]]:
    """Recovered formulations by uid for the problems that finished, and the uids of
    those still waiting for an offline batch."""
    states = [ItemState(problem) for problem in problems]
    solves = SolveCache(pool)  # identical answers of one chunk are solved once
    waiting: set[str] = set()
    for round_number in range(options.rounds + 1):
        open_states = [s for s in states if not s.finished and s.problem.uid not in waiting]
        if not open_states:
            break
        solve_stage(_ask_round(open_states, cache, options, round_number, waiting), solves,
                    options)
        for state in open_states:
            if state.problem.uid not in waiting and (state.settled or
                                                     round_number == options.rounds):
                state.finished = True
    return {s.problem.uid: conclude(s) for s in states if s.finished}, waiting


def _ask_round(states: list[ItemState], cache: AnswerCache, options: PipelineOptions,
               round_number: int, waiting: set[str]) -> list[PendingAnswer]:
    """The runner's LLM stage, through the cache, parking unanswered batch requests."""
    asks: list[tuple[ItemState, Track | None, LLMRequest]] = []
    for state in states:
        if round_number == 0:
            asks.append((state, None, formulation_request(state.problem.question, options,
                                                          n=options.samples)))
        else:
            asks.extend((state, track, repair_request(state.problem.question, track,
                                                      round_number, options))
                        for track in state.tracks if not track.done)
    answers = cache.ask([request for _, _, request in asks])
    pending = []
    for (state, track, request), answer in zip(asks, answers):
        if answer is None:
            waiting.add(state.problem.uid)
        elif isinstance(answer, LLMError):
            state.llm_error = str(answer)
        else:
            if track is None:
                state.tracks = [Track(sample=k) for k in range(len(answer))]
            for one, response in zip(state.tracks if track is None else [track], answer):
                pending.append(read_answer(state, one, response, request, round_number, 0.0))
    return pending


def conclude(state: ItemState) -> Recovered:
    """The voted formulation of a finished problem (as `nl2opt eval` would answer)."""
    prompts = sorted({f"{a.prompt_id}@{a.prompt_hash}" for t in state.tracks
                      for a in t.attempts})
    chosen = vote(state.tracks, [sample_outcome(t) for t in state.tracks]) \
        if state.tracks else None
    if chosen is None or chosen.formulation is None:
        last = chosen.attempts[-1].problems if chosen and chosen.attempts else []
        reason = state.llm_error or "; ".join(last) or "no formulation in the LLM's replies"
        return Recovered(None, failure=f"forward modelling failed: {reason}"[:2000],
                         prompts=prompts)
    # As in `nl2opt eval`: an infeasible or unbounded answer that survived the repair
    # rounds is the pipeline's verdict; the comparison with the source decides.
    formulation, result = chosen.best or (chosen.formulation, chosen.result)
    return Recovered(formulation.to_dict(), result.termination.value if result else None,
                     result.objective if result else None, prompts=prompts)
