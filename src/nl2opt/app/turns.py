"""One chat turn, without any UI: formulate, revise, or re-solve an edited model.

Each turn returns an `Answer` (stored as JSON in the history). Failures the
user can act on (LLM unreachable, vLLM missing, a request the demo did not
record, invalid JSON) become an Answer with a friendly `error` and `hint`
instead of an exception, so the chat always shows something useful.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.llm.jsontext import MAX_JSON_DEPTH, json_depth
from nl2opt.llm.types import LLMBackend, LLMError, LLMRequest
from nl2opt.pipeline.prompts import render_prompt
from nl2opt.pipeline.reply import reply_schema, schema_problems
from nl2opt.pipeline.report import Report, explain
from nl2opt.pipeline.run import PipelineOptions, generate_code, solve_text
from nl2opt.solvers.result import SolveResult, Termination

REVISE_PROMPT = "revise.v1"
Progress = Callable[[str], None]


class Answer(BaseModel):
    """What the assistant answered in one turn."""

    kind: Literal["formulate", "revise", "edit", "analysis"]
    request: str = ""  # the user's words (for a revision: the requested change)
    formulation: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    explanation: str = ""
    reasoning: str = ""
    code: str = ""
    error: str = ""  # nothing usable came back: say what went wrong
    hint: str = ""  # ... and what to do about it
    warning: str = ""  # an answer exists, but something is left unresolved
    steps: list[str] = Field(default_factory=list)
    rounds_used: int = 0
    llm: str = ""
    previous_formulation: dict[str, Any] | None = None
    previous_result: dict[str, Any] | None = None
    data_version: str = ""  # the uploaded data it was made with ("v2"; "" = unversioned)
    insight_ids: list[str] = Field(default_factory=list)  # experience-library insights used
    infeasibility: dict[str, Any] | None = None  # conflict and verified repairs (infeasible)
    alternatives: list[dict[str, Any]] = Field(default_factory=list)  # interpretations solved
    reviews: list[dict[str, Any]] = Field(default_factory=list)  # semantic reviews of models
    tool: str = ""  # analysis answers: what_if, why_not, sensitivity, explain
    analysis: dict[str, Any] | None = None  # ... and the tool's solver-backed result

    def formulation_object(self, data_dir: str | Path | None = None) -> Formulation | None:
        if self.formulation is None:
            return None
        formulation = Formulation.model_validate(self.formulation)
        return formulation.with_data_dir(data_dir) if data_dir else formulation

    def result_object(self) -> SolveResult | None:
        return SolveResult.model_validate(self.result) if self.result else None

    @property
    def termination(self) -> str | None:
        return self.result.get("termination") if self.result else None

    @property
    def objective(self) -> float | None:
        return self.result.get("objective") if self.result else None


def statement(problem: str, changes: list[str]) -> str:
    """The problem statement with the changes asked for since, as the LLM should read it."""
    if not changes:
        return problem.strip()
    listed = "\n".join(f"- {change.strip()}" for change in changes)
    return f"{problem.strip()}\n\nChanges asked for since:\n{listed}"


def revise_request(problem: str, formulation: Formulation, request: str,
                   options: PipelineOptions) -> LLMRequest:
    """The revise.v1 request: the current model and the requested change."""
    prompt = render_prompt(REVISE_PROMPT, problem=problem.strip(),
                           formulation=formulation.to_json(), request=request.strip())
    return LLMRequest(messages=prompt.messages, n=options.samples, sampling=options.sampling(),
                      json_schema=reply_schema() if options.structured else None,
                      schema_name="formulation_reply", prompt_id=prompt.id,
                      prompt_hash=prompt.hash)


def formulate_answer(problem: str, llm: LLMBackend, options: PipelineOptions,
                     progress: Progress | None = None, request: str = "",
                     insights=None) -> Answer:
    """The first turn: formulate and solve `problem` (with repairs); `insights`, an
    experience-library provider, adds the insights that apply to the prompt."""
    steps: list[str] = []
    try:
        report = solve_text(problem, llm, options, progress=_recorder(steps, progress),
                            insights=insights)
    except Exception as error:  # the UI boundary: every failure becomes a message
        return failure("formulate", request or problem, error, steps, llm)
    return _from_report("formulate", request or problem, report, steps, options)


def revise_answer(problem: str, changes: list[str], current: Formulation,
                  current_result: dict[str, Any] | None, request: str, llm: LLMBackend,
                  options: PipelineOptions, progress: Progress | None = None) -> Answer:
    """A follow-up turn: the LLM revises `current` as asked; then check, solve, repair."""
    steps: list[str] = []
    first = revise_request(statement(problem, changes), current, request, options)
    try:
        report = solve_text(statement(problem, [*changes, request]), llm, options,
                            progress=_recorder(steps, progress), first_request=first)
    except Exception as error:
        return failure("revise", request, error, steps, llm)
    answer = _from_report("revise", request, report, steps, options)
    answer.previous_formulation = current.to_dict()
    answer.previous_result = current_result
    return answer


def edit_answer(json_text: str, data_dir: str | Path | None, previous: Answer | None,
                options: PipelineOptions,
                request: str = "Edited the formulation JSON and re-solved") -> Answer:
    """Re-solve a formulation edited by hand (no LLM). Bad JSON gets a located message."""
    base = Answer(kind="edit", request=request,
                  previous_formulation=previous.formulation if previous else None,
                  previous_result=previous.result if previous else None)
    formulation, problem = parse_edited(json_text)
    if formulation is None:
        base.error, base.hint = problem, "Fix the JSON and press Re-solve again."
        return base
    if data_dir:
        formulation = formulation.with_data_dir(data_dir)
    from nl2opt.formulation.limits import memory_capped
    from nl2opt.solvers.solve import solve

    try:
        with memory_capped("Solving the edited model"):
            result = solve(formulation, solver=options.solver, time_limit=options.time_limit)
    except Nl2OptError as error:
        base.formulation = formulation.to_dict()
        base.error = f"The edited model cannot be solved: {error}"
        base.hint = "Fix the element named above and press Re-solve again."
        return base
    base.formulation = formulation.to_dict()
    base.result = result.model_dump(mode="json")
    base.explanation = explain(formulation, result)
    base.code = generate_code(formulation)
    base.warning = time_limit_note(result, options.time_limit)
    base.infeasibility = infeasibility_of(formulation, result, options)
    return base


def infeasibility_of(formulation: Formulation, result: SolveResult,
                     options: PipelineOptions) -> dict[str, Any] | None:
    """The conflict in words and verified repairs, for an infeasible answer (else None)."""
    if result.termination is not Termination.infeasible:
        return None
    from nl2opt.analysis.infeasibility import analyze_infeasible
    from nl2opt.analysis.whatif import SolveSettings

    try:
        found = analyze_infeasible(formulation, result,
                                   SolveSettings(solver=options.solver,
                                                 time_limit=options.time_limit))
    except Nl2OptError:  # the explanation stands on its own; repairs are extra help
        return None
    return found.model_dump(mode="json")


_TOO_DEEP = (f"The JSON nests lists or objects more than {MAX_JSON_DEPTH} levels deep; a "
             "formulation needs only a few levels.")


def parse_edited(json_text: str) -> tuple[Formulation | None, str]:
    """(formulation, "") or (None, a message saying what is wrong and where)."""
    json_text = json_text.removeprefix("\ufeff")  # pasted from a file with a byte-order mark
    try:
        data = json.loads(json_text)
    except json.JSONDecodeError as error:
        line = json_text.splitlines()[error.lineno - 1] if json_text.strip() else ""
        return None, (f"The JSON is not valid: {error.msg} at line {error.lineno}, column "
                      f"{error.colno}" + (f" (`{line.strip()[:80]}`)" if line.strip() else ""))
    except RecursionError:
        return None, _TOO_DEEP
    if json_depth(data) > MAX_JSON_DEPTH:
        return None, _TOO_DEEP
    if not isinstance(data, dict):
        return None, "The JSON must be one object with sets, parameters, variables, " \
                     "objective and constraints."
    try:
        return Formulation.model_validate(data), ""
    except ValidationError as error:
        lines = [line.replace("formulation.", "", 1) for line in schema_problems(error, 6)]
        return None, "The JSON is not a valid formulation: " + " ".join(lines)


def time_limit_note(result: SolveResult, time_limit: float | None) -> str:
    """A friendly note when the solver stopped at the time limit; '' otherwise."""
    if result.termination is not Termination.time_limit:
        return ""
    limit = f" of {time_limit:g} s" if time_limit else ""
    found = ("The best plan found so far is shown; it may not be optimal."
             if result.has_solution else "No feasible plan was found in that time.")
    return (f"The solver stopped at the time limit{limit}. {found} Raise the time limit in the "
            "sidebar to search longer.")


def friendly_error(error: BaseException, steps: list[str] | None = None) -> tuple[str, str]:
    """(what went wrong, what to do) for a failure during a turn. When a repair round was
    under way, the problem it was repairing is named first: that is the real cause."""
    cause = repair_cause(steps or [])
    message, hint = _error_text(error)
    if cause and isinstance(error, LLMError):
        if "supports only" in cause:
            hint = ("Choose the solver 'automatic' (or one the message names) in the sidebar "
                    "and send the message again.")
        return (f"The model could not be used as it was: {cause}. Asking the LLM to repair "
                f"it then failed: {message[0].lower() + message[1:]}", hint)
    return message, hint


def repair_cause(steps: list[str]) -> str:
    """The problem the first repair round was about ('' when none was needed)."""
    for step in steps:
        if step.startswith("Repairing, round "):
            return step.partition(": ")[2].strip().rstrip(".")
    return ""


def _error_text(error: BaseException) -> tuple[str, str]:
    text = str(error)
    if isinstance(error, LLMError):
        message = text.removesuffix(error.hint).strip().removesuffix(".") if error.hint \
            else text
        hint = error.hint
        if "is not in the recording" in text and "app_replay.jsonl" in text:
            return ("Demo mode only knows the recorded example conversations, and this "
                    "message is not one of them.",
                    "Pick one of the examples below (or the suggested follow-up), or choose "
                    "an LLM in the sidebar to ask anything.")
        if "is not in the recording" in text:
            return ("The replay recording has no answer for this message: " + message + ".",
                    "Replay answers only exactly the recorded requests (same prompt, data and "
                    "settings); record a new run with a record: spec.")
        if "vLLM is not installed" in text:
            return ("vLLM is not installed here, so the in-process LLM (which needs a GPU) "
                    "cannot start.",
                    "On a GPU machine: pip install 'nl2opt[vllm]'. Otherwise use Demo mode or "
                    "an OpenAI-compatible server (e.g. Ollama) in the sidebar.")
        if "cannot connect" in text or "did not answer in time" in text:
            return (f"The LLM server is not reachable: {message}.",
                    _sentence(hint) + " Check the server URL in the sidebar (the Test "
                    "connection button tries it), or switch to Demo mode.")
        return f"The LLM failed: {message}.", _sentence(hint)
    if isinstance(error, Nl2OptError):
        return f"nl2opt could not finish: {text}", "Check the settings in the sidebar."
    return (f"Something unexpected went wrong ({type(error).__name__}: {text}).",
            "Try again; if it keeps happening, please report it with the steps shown.")


def _sentence(text: str) -> str:
    """A hint as a sentence: capitalized, ending with a full stop."""
    text = (text or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _recorder(steps: list[str], progress: Progress | None) -> Progress:
    def note(line: str) -> None:
        steps.append(line)
        if progress is not None:
            progress(line)
    return note


def failure(kind, request: str, error: BaseException, steps: list[str] | None = None,
            llm: LLMBackend | None = None) -> Answer:
    """An Answer that says what went wrong and what to do (no model)."""
    message, hint = friendly_error(error, steps)
    return Answer(kind=kind, request=request, error=message, hint=hint.strip(),
                  steps=steps or [],
                  llm=f"{llm.name}:{llm.model}" if llm is not None else "")


def _from_report(kind, request: str, report: Report, steps: list[str],
                 options: PipelineOptions) -> Answer:
    answer = Answer(kind=kind, request=request, steps=steps, llm=report.llm,
                    rounds_used=report.rounds_used, explanation=report.explanation,
                    code=report.code)
    last = report.attempts[-1] if report.attempts else None
    answer.reasoning = last.reasoning if last else ""
    if report.formulation is None:
        answer.error = "The LLM did not produce a usable model, even after repairs."
        answer.hint = ((report.error + ". ") if report.error else "") + \
            "Rephrase the problem with the numbers spelled out, or allow more rounds."
        return answer
    answer.formulation = report.formulation.to_dict()
    answer.insight_ids = report.insight_ids
    answer.alternatives = [a.model_dump(mode="json") for a in report.alternatives]
    answer.reviews = [r.model_dump(mode="json", exclude={"raw_response"})
                      for r in report.reviews]
    result = report.result
    if result is not None:
        answer.result = result.model_dump(mode="json")
        answer.warning = time_limit_note(result, options.time_limit)
        answer.infeasibility = infeasibility_of(report.formulation, result, options)
    # Infeasible and unbounded answers explain themselves; other leftovers get a note.
    explained = result is not None and result.termination in _SELF_EXPLAINED
    if report.error and not answer.warning and not explained:
        unresolved = report.error.removeprefix("unresolved after all rounds: ")
        answer.warning = (f"Left unresolved after {report.rounds_used} repair round(s): "
                          + unresolved.splitlines()[0][:400])
    return answer


_SELF_EXPLAINED = (Termination.infeasible, Termination.unbounded,
                   Termination.infeasible_or_unbounded)
