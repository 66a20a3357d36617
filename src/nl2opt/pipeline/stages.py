"""Validate, compile, solve and check one formulation: the loop's work after an LLM
answer is read, as one pure function shared by the copilot loop and the evaluation
runner's solve workers (picklable data in and out).

Whatever goes wrong becomes an outcome with feedback, never an exception: nl2opt's own
errors say what to fix, running out of memory (under the solve's memory cap) says the
model is too large, and any other exception (an unforeseen input reaching a bug) is
named with the stage it happened in, so the LLM can steer around it and an evaluation
fails that one item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nl2opt.errors import CompileError, Nl2OptError
from nl2opt.formulation.limits import memory_cap, out_of_memory
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.validate import Severity, validate
from nl2opt.pipeline.checks import result_feedback
from nl2opt.solvers.result import SolveResult
from nl2opt.solvers.solve import problem_class_of, solve

# The failure recorded when an unexpected exception ends a stage.
_UNEXPECTED_FAILURE = {"validate": "invalid_formulation", "compile": "compile_error",
                       "solve": "solver_error", "check": "solver_error"}
_STAGE_WORDS = {"validate": "Checking the formulation", "compile": "Compiling",
                "solve": "Solving", "check": "Checking the solution"}


@dataclass
class SolveOutcome:
    """What became of one formulation; `failure` names a stage failure, if any."""

    stage: str  # where it stopped: validate, compile, solve, check
    problems: list[str] = field(default_factory=list)  # feedback for the next round
    warnings: int = 0
    result: SolveResult | None = None
    problem_class: str | None = None
    failure: str | None = None  # invalid_formulation, compile_error, solver_error, timeout
    check_seconds: float = 0.0
    solve_seconds: float = 0.0
    cpu_seconds: float = 0.0


def check_and_solve(formulation: Formulation, solver: str | None = None,
                    time_limit: float | None = None) -> SolveOutcome:
    """Validate, classify, solve and check `formulation` under the memory cap."""
    outcome = SolveOutcome(stage="validate")
    with memory_cap() as limit_mb:
        try:
            _run_stages(outcome, formulation, solver, time_limit)
        except MemoryError:
            _fail(outcome, "solver_error",
                  str(out_of_memory(_STAGE_WORDS[outcome.stage], limit_mb)))
        except Exception as error:  # noqa: BLE001 - feedback and one failed item, not a crash
            _fail(outcome, _UNEXPECTED_FAILURE[outcome.stage], unexpected_feedback(
                outcome.stage, error))
    return outcome


def unexpected_feedback(stage: str, error: BaseException) -> str:
    """Repair feedback for an exception that is not one of nl2opt's own errors."""
    detail = " ".join(str(error).split())[:200] or "no details"
    return (f"{_STAGE_WORDS[stage]} failed with an unexpected {type(error).__name__} "
            f"({detail}). This usually comes from extreme input: numbers too large for a "
            "float, very large sets or ranges, or very deeply nested expressions. Check "
            "those elements, use ordinary magnitudes and sizes, and keep the rest of the "
            "model unchanged.")


def _fail(outcome: SolveOutcome, failure: str, problem: str) -> None:
    outcome.failure = failure
    outcome.problems = [problem]


def _run_stages(outcome: SolveOutcome, formulation: Formulation, solver: str | None,
                time_limit: float | None) -> None:
    started = time.perf_counter()
    try:
        issues = validate(formulation)
    finally:
        outcome.check_seconds = time.perf_counter() - started
    outcome.warnings = sum(1 for i in issues if i.severity is Severity.warning)
    errors = [i for i in issues if i.severity is Severity.error]
    if errors:
        outcome.problems = [f"{i.element}: {i.message}" for i in errors]
        outcome.failure = "invalid_formulation"
        return
    outcome.stage = "solve"
    started = time.perf_counter()
    try:
        problem_class = problem_class_of(formulation)
        outcome.problem_class = problem_class.value
        result = solve(formulation, solver=solver, time_limit=time_limit, check=False,
                       problem_class=problem_class)
    except CompileError as error:
        outcome.stage = "compile"
        _fail(outcome, "compile_error", f"Compiling failed: {error}")
        return
    except Nl2OptError as error:
        _fail(outcome, "solver_error", f"Solving failed: {error}")
        return
    finally:
        outcome.solve_seconds = time.perf_counter() - started
    outcome.result = result
    outcome.stage = "check"
    outcome.problems = result_feedback(formulation, result)
