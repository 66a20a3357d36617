"""Which backends exist, in order of preference, and how one is chosen.

Backends are imported lazily by name so that `import nl2opt` stays light and
a missing optional solver only matters when it is asked for.
"""

from __future__ import annotations

import importlib

from nl2opt.errors import NotSupportedError, SolverUnavailableError
from nl2opt.formulation.classify import ProblemClass
from nl2opt.solvers.base import Backend

# name -> "module:Class"; the order is the preference order for automatic choice.
BACKENDS: dict[str, str] = {
    "highs": "nl2opt.solvers.highs_direct:HighsDirectBackend",
    "cpsat": "nl2opt.solvers.cpsat:CpSatBackend",
    "pyomo-highs": "nl2opt.solvers.pyomo_backend:PyomoHighsBackend",
    "scip": "nl2opt.solvers.pyomo_backend:ScipBackend",
}

# Automatic choice: HiGHS straight from arrays wherever it applies (LP, MILP,
# convex QP); SCIP through Pyomo for everything with integer-quadratic or
# nonlinear parts. CP-SAT is chosen only when asked for (`--solver cpsat`):
# it shines on combinatorial pure-integer models but HiGHS is the safer default.
AUTOMATIC = {
    ProblemClass.LP: "highs", ProblemClass.MILP: "highs", ProblemClass.QP: "highs",
    ProblemClass.MIQP: "scip", ProblemClass.QCP: "scip", ProblemClass.MIQCP: "scip",
    ProblemClass.NLP: "scip", ProblemClass.MINLP: "scip",
}


def get_backend(name: str) -> Backend:
    """The backend called `name`; SolverUnavailableError if unknown or not installed."""
    if name not in BACKENDS:
        raise SolverUnavailableError(f"unknown solver '{name}'; choose one of "
                                     f"{', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name].split(":")
    try:
        backend = getattr(importlib.import_module(module_name), class_name)()
    except ImportError as error:
        raise SolverUnavailableError(f"solver '{name}' cannot be loaded ({error}); reinstall "
                                     "nl2opt with its dependencies") from None
    if not backend.is_available():
        raise SolverUnavailableError(f"solver '{name}' is not available on this machine")
    return backend


def available_backends() -> list[str]:
    names = []
    for name in BACKENDS:
        try:
            get_backend(name)
        except SolverUnavailableError:
            continue
        names.append(name)
    return names


def choose_backend(problem_class: ProblemClass, requested: str | None = None) -> Backend:
    """The requested backend if it supports the class, else the automatic one."""
    name = requested or AUTOMATIC[problem_class]
    backend = get_backend(name)
    if problem_class not in backend.supports:
        supported = ", ".join(sorted(c.value for c in backend.supports))
        fitting = [n for n in BACKENDS if n != name and _supports(n, problem_class)]
        raise NotSupportedError(
            f"the model is {problem_class.value} but solver '{name}' supports only "
            f"{supported}; use {' or '.join(fitting) or 'another solver'} instead")
    return backend


def _supports(name: str, problem_class: ProblemClass) -> bool:
    try:
        return problem_class in get_backend(name).supports
    except SolverUnavailableError:
        return False
