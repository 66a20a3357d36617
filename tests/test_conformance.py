"""Conformance: every example on every backend gives the independently known answer.

Expected outcomes live in examples/expected.json; how each was obtained
(without nl2opt's compiler) is listed in examples/README.md. A combination is
skipped, with the reason, when the backend is not installed, does not support
the example's problem class, or (CP-SAT) refuses the model's data.
"""

from __future__ import annotations

import json
import math

import pytest

from conftest import EXAMPLES
from nl2opt.errors import NotSupportedError, SolverUnavailableError
from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.data import resolve_data
from nl2opt.formulation.model import VarType, load_formulation
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.registry import BACKENDS, get_backend
from nl2opt.solvers.result import SolveResult, Termination

EXPECTED = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))
TIME_LIMIT = 60.0
REL_TOL = 1e-6
ABS_TOL = 1e-6
INTEGRALITY_TOL = 1e-5


def _backend_or_skip(name: str, problem_class: ProblemClass):
    try:
        backend = get_backend(name)
    except SolverUnavailableError as error:
        pytest.skip(f"{name}: backend not available ({error})")
    if problem_class not in backend.supports:
        supported = ", ".join(sorted(c.value for c in backend.supports))
        pytest.skip(f"{name} does not support {problem_class.value} (supports {supported})")
    return backend


def _solve_or_skip(backend, name: str, example: str) -> SolveResult:
    formulation = load_formulation(EXAMPLES / example)
    try:
        return backend.solve(formulation, SolveOptions(time_limit=TIME_LIMIT))
    except NotSupportedError as error:
        if name == "cpsat":  # CP-SAT refuses continuous variables or non-integral data
            pytest.skip(f"cpsat: {error}")
        raise


def _assert_objective(result: SolveResult, expected: float) -> None:
    assert result.objective is not None, "an optimal result must carry its objective"
    assert math.isclose(result.objective, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL), (
        f"objective {result.objective!r} differs from the independent value {expected!r}")


def _assert_values_under_user_names(result: SolveResult, example: str) -> None:
    """Every declared variable comes back with one value per index tuple, by element name."""
    formulation = load_formulation(EXAMPLES / example)
    sets = resolve_data(formulation).sets
    for variable in formulation.variables:
        assert variable.name in result.variables, f"variable '{variable.name}' missing"
        values = result.variables[variable.name].as_dict()
        expected_keys = {()}
        for set_name in variable.index:
            expected_keys = {key + (element,) for key in expected_keys
                             for element in sets[set_name].elements}
        assert set(values) == expected_keys, (
            f"variable '{variable.name}': keys differ from the product of its index sets")
        assert all(math.isfinite(v) for v in values.values()), variable.name
        if variable.type is not VarType.continuous:
            off = [k for k, v in values.items() if abs(v - round(v)) > INTEGRALITY_TOL]
            assert not off, f"integer variable '{variable.name}' is fractional at {off[:3]}"


@pytest.mark.parametrize("backend_name", list(BACKENDS))
@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_example_on_backend(example: str, backend_name: str):
    expected = EXPECTED[example]
    backend = _backend_or_skip(backend_name, ProblemClass(expected["class"]))
    result = _solve_or_skip(backend, backend_name, example)
    assert result.termination is Termination(expected["termination"]), (
        f"{backend_name} on {example}: {result.termination.value} ({result.message}); "
        f"expected {expected['termination']}")
    if result.termination is Termination.optimal:
        assert result.has_solution
        _assert_objective(result, expected["objective"])
        _assert_values_under_user_names(result, example)
