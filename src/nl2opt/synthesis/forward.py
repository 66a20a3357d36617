"""Forward modelling: nl2opt's own pipeline formulates the synthetic texts again.

The rounds are the evaluation runner's (`evaluate_problems`: one LLM call per
round for every open problem, then validate/compile/solve/check in the solve
pool, repair prompts from the feedback, majority vote), asked through the
synthesis run's answer cache. A request an offline batch has not answered yet
leaves its problem waiting, as in `nl2opt eval`, so a `batch:` run stops cleanly
and resumes later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nl2opt.evaluation.runner import ItemState, Problem, evaluate_problems
from nl2opt.evaluation.solve_cache import SolveCache
from nl2opt.evaluation.solve_stage import SolvePool
from nl2opt.pipeline.run import PipelineOptions, sample_outcome, vote
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
    solves = SolveCache(pool)  # identical answers of one chunk are solved once
    states = evaluate_problems(problems, cache, options, solves, on_finished=lambda _: None)
    return ({s.problem.uid: conclude(s) for s in states if s.finished},
            {s.problem.uid for s in states if not s.finished})


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
