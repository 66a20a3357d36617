"""Validate, compile, solve and check one formulation: the loop's work after an LLM
answer is read, as one pure function shared by the copilot loop and the evaluation
runner's solve workers (picklable data in and out)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nl2opt.errors import CompileError, Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.validate import Severity, validate
from nl2opt.pipeline.checks import result_feedback
from nl2opt.solvers.result import SolveResult
from nl2opt.solvers.solve import problem_class_of, solve


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
    started = time.perf_counter()
    issues = validate(formulation)
    outcome = SolveOutcome(stage="validate", check_seconds=time.perf_counter() - started,
                           warnings=sum(1 for i in issues if i.severity is Severity.warning))
    errors = [i for i in issues if i.severity is Severity.error]
    if errors:
        outcome.problems = [f"{i.element}: {i.message}" for i in errors]
        outcome.failure = "invalid_formulation"
        return outcome
    outcome.stage = "solve"
    started = time.perf_counter()
    try:
        problem_class = problem_class_of(formulation)
        outcome.problem_class = problem_class.value
        result = solve(formulation, solver=solver, time_limit=time_limit, check=False,
                       problem_class=problem_class)
    except CompileError as error:
        outcome.stage, outcome.failure = "compile", "compile_error"
        outcome.problems = [f"Compiling failed: {error}"]
        return outcome
    except Nl2OptError as error:
        outcome.failure = "solver_error"
        outcome.problems = [f"Solving failed: {error}"]
        return outcome
    finally:
        outcome.solve_seconds = time.perf_counter() - started
    outcome.result = result
    outcome.stage = "check"
    outcome.problems = result_feedback(formulation, result)
    return outcome
