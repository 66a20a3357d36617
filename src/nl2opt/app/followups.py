"""A follow-up message: the LLM picks the tool, the solver answers.

"We now have 60 oven hours" revises the model (as before); "what if flour were
150 kg?", "why not bake 20 cakes?", "what is an oven hour worth?" are answered
by a what-if re-solve, a why-not re-solve, or the sensitivity of the current
plan, without changing the model. Such answers are `kind="analysis"`: they
carry the tool's result, and the model they looked at stays the current one.
"""

from __future__ import annotations

from typing import Any

from nl2opt.analysis.questions import Route, route_followup
from nl2opt.app.turns import Answer, Progress, failure, revise_answer
from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.llm.types import LLMBackend
from nl2opt.pipeline.run import PipelineOptions
from nl2opt.solvers.result import SolveResult

TOOL_TITLES = {"what_if": "What if", "why_not": "Why not", "sensitivity": "What the limits "
               "are worth", "explain": "The current plan"}


def followup_answer(problem: str, changes: list[str], current: Answer, formulation: Formulation,
                    request: str, llm: LLMBackend, options: PipelineOptions,
                    progress: Progress | None = None, llm_request: str = "") -> Answer:
    """Route `request` to a tool and answer it; `llm_request` is what a revision sends
    (the request with any new data described)."""
    note = progress or (lambda line: None)
    note("Reading the question: which tool answers it")
    try:
        route, problem_note = route_followup(formulation, request, llm)
    except Exception as error:  # noqa: BLE001 - the UI boundary: every failure is a message
        return failure("revise", request, error, ["Reading the question"], llm)
    chosen = f"Tool chosen: {route.tool}" + (f" ({route.reasoning})" if route.reasoning else "")
    chosen += f"; {problem_note}" if problem_note else ""
    note(chosen)
    if route.tool == "revise":
        answer = revise_answer(problem, changes, formulation, current.result,
                               llm_request or request, llm, options, progress)
        answer.request = request
        answer.steps = ["Reading the question: which tool answers it", chosen, *answer.steps]
        return answer
    result = current.result_object()
    answer = Answer(kind="analysis", request=request, tool=route.tool,
                    llm=f"{llm.name}:{llm.model}",
                    steps=["Reading the question: which tool answers it", chosen])
    try:
        answer.analysis = run_tool(route, formulation, result, options)
    except Nl2OptError as error:
        answer.error = f"The {route.tool.replace('_', '-')} question could not be answered: " \
                       f"{error}"
        answer.hint = "Rephrase the question with the names the model uses (see the Model tab)."
    answer.steps.append(f"Solved: {route.tool.replace('_', ' ')}")
    return answer


def run_tool(route: Route, formulation: Formulation, result: SolveResult | None,
             options: PipelineOptions) -> dict[str, Any]:
    """The chosen tool's result (a re-solve, or the sensitivity of the current plan)."""
    from nl2opt.analysis.whatif import SolveSettings, what_if, why_not

    settings = SolveSettings(solver=options.solver, time_limit=options.time_limit)
    if route.tool == "what_if":
        return what_if(formulation, route.parameter, tuple(route.index), float(route.value),
                       result, settings).model_dump(mode="json")
    if route.tool == "why_not":
        return why_not(formulation, route.condition, route.condition_words, result,
                       settings).model_dump(mode="json")
    if route.tool == "sensitivity":
        return sensitivity_payload(formulation, options.time_limit)
    from nl2opt.pipeline.explain import explain
    from nl2opt.solvers.solve import solve

    fresh = solve(formulation, options.solver, options.time_limit)
    return {"sentences": explain(formulation, fresh).splitlines()}


def sensitivity_payload(formulation: Formulation, time_limit: float | None) -> dict[str, Any]:
    """The sensitivity sentences and tables of the current plan, as JSON data."""
    from nl2opt.analysis.sensitivity_text import sensitivity_text
    from nl2opt.solvers.sensitivity import sensitivity

    found = sensitivity(formulation, time_limit)
    text = sensitivity_text(formulation, found)
    return {"limits": text.limits, "unused": text.unused, "stability": text.stability,
            "note": text.note, "sensitivity": found.model_dump(mode="json")}
