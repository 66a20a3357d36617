"""Validate, classify, choose a backend and solve: the one entry point below the API."""

from __future__ import annotations

from nl2opt.errors import FormulationError
from nl2opt.formulation.arrays import parse_or_raise
from nl2opt.formulation.classify import ProblemClass, classify
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.validate import errors_only, format_issues, validate
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.limits import checked_time_limit
from nl2opt.solvers.registry import choose_backend
from nl2opt.solvers.result import SolveResult, Termination


def problem_class_of(formulation: Formulation) -> ProblemClass:
    # The class depends on the expressions only: no data (and no CSV reading) needed.
    return classify(formulation, parse_or_raise(formulation))


def solve(formulation: Formulation, solver: str | None = None,
          time_limit: float | None = None, log: bool = False,
          check: bool = True, problem_class: ProblemClass | None = None) -> SolveResult:
    """Validate (unless `check=False`), pick a backend by problem class (given, or
    worked out here) or use `solver`, and solve. Raises FormulationError (with
    `.issues`) on validation errors. The time limit covers compiling and solving."""
    time_limit = checked_time_limit(time_limit)
    if check:
        problems = errors_only(validate(formulation))
        if problems:
            raise FormulationError("the formulation has errors:\n" + format_issues(problems),
                                   problems)
    problem_class = problem_class or problem_class_of(formulation)
    backend = choose_backend(problem_class, solver)
    # The clock starts once the solver libraries are imported (seconds on a busy machine).
    options = SolveOptions(time_limit=time_limit, log=log).clocked()
    result = backend.solve(formulation, options)
    if solver is None and problem_class is ProblemClass.QP and \
            result.termination is Termination.error:
        # HiGHS solves convex QPs only; SCIP takes the nonconvex ones.
        result = choose_backend(ProblemClass.NLP).solve(formulation, options)
    return result
