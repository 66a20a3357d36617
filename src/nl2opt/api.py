"""The Python API: check, classify and solve formulations.

    import nl2opt
    formulation = nl2opt.load_formulation("examples/bakery_lp.json")
    result = nl2opt.solve_formulation(formulation)
    print(result.objective, result.value("x", "bread"))
"""

from __future__ import annotations

from pathlib import Path

from nl2opt.errors import FormulationError
from nl2opt.formulation.arrays import prepare
from nl2opt.formulation.classify import ProblemClass, classify
from nl2opt.formulation.model import Formulation, load_formulation
from nl2opt.formulation.validate import Issue, errors_only, format_issues, validate
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.registry import choose_backend
from nl2opt.solvers.result import SolveResult, Termination


def as_formulation(source: Formulation | str | Path | dict) -> Formulation:
    return source if isinstance(source, Formulation) else load_formulation(source)


def check_formulation(source: Formulation | str | Path | dict) -> list[Issue]:
    """All validation issues (errors first); an empty list means clean."""
    return validate(as_formulation(source))


def classify_formulation(source: Formulation | str | Path | dict) -> ProblemClass:
    formulation = as_formulation(source)
    parsed, _data = prepare(formulation)
    return classify(formulation, parsed)


def solve_formulation(source: Formulation | str | Path | dict, solver: str | None = None,
                      time_limit: float | None = None, log: bool = False,
                      check: bool = True) -> SolveResult:
    """Validate, pick a backend by problem class (or use `solver`), and solve.

    Raises FormulationError (with `.issues`) when validation finds errors;
    infeasible and unbounded models come back as results with a diagnosis.
    """
    formulation = as_formulation(source)
    if check:
        problems = errors_only(validate(formulation))
        if problems:
            raise FormulationError("the formulation has errors:\n" + format_issues(problems),
                                   problems)
    problem_class = classify_formulation(formulation)
    backend = choose_backend(problem_class, solver)
    options = SolveOptions(time_limit=time_limit, log=log)
    result = backend.solve(formulation, options)
    if solver is None and problem_class is ProblemClass.QP and \
            result.termination is Termination.error:
        # HiGHS solves convex QPs only; SCIP takes the nonconvex ones.
        result = choose_backend(ProblemClass.NLP).solve(formulation, options)
    return result
