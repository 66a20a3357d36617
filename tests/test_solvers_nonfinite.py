"""Non-finite numbers never reach a solver as an answer, and every HiGHS status is read.

Reproductions from issue 9, item 3: a NaN variable bound passed `check` and `solve`
printed `optimal (highs)` with no objective, because HiGHS refused the model in
`passModel` (status never checked), then reported the empty model it was left with as
"model empty", which was mapped to optimal.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import formulation
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.errors import CompileError
from nl2opt.formulation.arrays import compile_arrays
from nl2opt.formulation.validate import Severity, validate
from nl2opt.solvers.highs_direct import HighsDirectBackend
from nl2opt.solvers.result import Termination
from nl2opt.solvers.solve import solve

runner = CliRunner()
NAN, INF = math.nan, math.inf


def errors(model):
    return [i for i in validate(model) if i.severity is Severity.error]


def non_finite(model):
    return [i for i in errors(model) if i.code == "non-finite"]


@pytest.mark.parametrize("bounds", [{"upper": NAN}, {"lower": NAN}, {"lower": INF},
                                    {"upper": -INF}, {"lower": 3, "upper": -INF}])
def test_non_finite_literal_bounds_are_rejected_naming_the_variable(bounds):
    model = formulation([{"name": "x", **bounds}], "x", ["x <= 5"], sense="maximize")
    found = non_finite(model)
    assert found and found[0].element == "variable 'x'", errors(model)


@pytest.mark.parametrize("bounds", [{"lower": -INF}, {"upper": INF}, {"lower": None}])
def test_infinite_bounds_in_the_right_direction_mean_no_bound(bounds):
    model = formulation([{"name": "x", **bounds}], "x", ["x <= 5", "x >= -5"])
    assert errors(model) == []
    assert solve(model).objective == pytest.approx(-5 if "lower" in bounds else 0)


def test_bound_expressions_giving_nan_or_wrong_infinity_are_rejected_per_element():
    sets = [{"name": "P", "elements": ["a", "b"]}]
    params = [{"name": "cap", "index": ["P"], "values": {"a": 4, "b": -INF}}]
    model = formulation([{"name": "x", "index": ["P"], "lower": None, "upper": "cap[P]"}],
                        "sum(x[p] for p in P)", ["sum(x[p] for p in P) >= -10"], sets, params,
                        sense="maximize")
    found = [i for i in errors(model) if "non-finite" in i.message]
    assert found and found[0].element.startswith("variable 'x'"), errors(model)


@pytest.mark.parametrize("field", ["value", "default"])
def test_nan_scalar_parameter_is_rejected(field):
    model = formulation([{"name": "x"}], "c * x", ["x <= 5"],
                        parameters=[{"name": "c", field: NAN}], sense="maximize")
    found = non_finite(model)
    assert found and found[0].element == "parameter 'c'"


@pytest.mark.parametrize("objective, constraint, element", [
    ("c * x", "x <= 5", "objective"),
    ("x", "c * x <= 5", "constraint 'c0'"),
    ("x", "x <= c - c", "constraint 'c0'"),   # inf - inf is NaN
    ("x", "x >= c", "constraint 'c0'"),       # a lower bound of +inf: no value meets it
    ("x + c - c", "x <= 5", "objective"),     # a NaN constant term
])
def test_infinite_data_reaching_coefficients_is_a_located_error(objective, constraint,
                                                                 element):
    model = formulation([{"name": "x"}], objective, [constraint],
                        parameters=[{"name": "c", "value": INF}], sense="maximize")
    found = [i for i in errors(model) if "non-finite" in i.message]
    assert found and found[0].element == element, errors(model)


@pytest.mark.parametrize("objective, constraint, element", [
    ("x**3 * c", "x * x >= 1", "objective"),       # was: unbounded (scip)
    ("x**3", "x * x * c >= 1", "constraint 'c0'"),  # was: optimal 27
    ("exp(x) * c", "x <= 2", "objective"),         # was: infeasible
])
def test_infinite_data_in_a_nonlinear_model_is_a_located_error(objective, constraint,
                                                                element):
    model = formulation([{"name": "x", "upper": 3}], objective, [constraint],
                        parameters=[{"name": "c", "value": INF}], sense="maximize")
    found = non_finite(model)
    assert found and found[0].element == element and "'c'" in found[0].message, errors(model)
    with pytest.raises(CompileError, match="'c'"):
        solve(model, check=False)


def test_nan_bound_in_a_nonlinear_model_is_rejected():
    model = formulation([{"name": "x", "upper": NAN}], "x**3", ["x * x <= 4"],
                        sense="maximize")
    assert non_finite(model)[0].element == "variable 'x'"


def test_check_command_exits_1_naming_the_variable(tmp_path):
    path = tmp_path / "nan.json"
    # NaN is what Python's json writes for float('nan'); pydantic reads it back as NaN.
    path.write_text(json.dumps({"variables": [{"name": "width", "upper": NAN}],
                                "objective": {"sense": "maximize", "expression": "width"},
                                "constraints": [{"name": "c", "expression": "width <= 5"}]}))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "variable 'width'" in result.output and "nan" in result.output
    solved = runner.invoke(app, ["solve", str(path)])
    assert solved.exit_code != 0 and "optimal" not in solved.output
    assert "variable 'width'" in solved.output


@pytest.mark.parametrize("solver", ["highs", "pyomo-highs", "scip"])
def test_unchecked_nan_bound_fails_in_the_solver_instead_of_answering(solver):
    model = formulation([{"name": "x", "upper": NAN}], "x", ["x <= 5"], sense="maximize")
    with pytest.raises(CompileError, match="variable 'x'"):
        solve(model, solver=solver, check=False)


def test_failing_pass_model_status_is_an_error():
    """A model HiGHS refuses in passModel (here a matrix entry naming a column that does
    not exist) raises, instead of solving the empty model HiGHS is left with."""
    model = compile_arrays(formulation([{"name": "x", "upper": 1}], "x", ["x <= 5"],
                                       sense="maximize"))
    model.matrix.indices[0] = 7
    with pytest.raises(CompileError, match="passModel"):
        HighsDirectBackend().solve_arrays(model)


def _empty_set_model(constraint: str):
    return formulation([{"name": "x", "index": ["I"]}], "sum(x[i] for i in I) + 3",
                       [constraint], sets=[{"name": "I", "elements": []}], sense="maximize")


@pytest.mark.parametrize("solver", ["highs", "pyomo-highs", "scip"])
def test_model_without_columns_is_solved_by_hand(solver):
    result = solve(_empty_set_model("sum(x[i] for i in I) <= 1"), solver=solver)
    assert result.termination is Termination.optimal and result.has_solution
    assert result.objective == pytest.approx(3)
    assert result.variables["x"].values == []


@pytest.mark.parametrize("solver", ["highs", "pyomo-highs", "scip"])
def test_model_without_columns_and_a_false_row_is_infeasible(solver):
    result = solve(_empty_set_model("sum(x[i] for i in I) >= 1"), solver=solver)
    assert result.termination is Termination.infeasible and not result.has_solution


class _EmptyStatusHighs:
    """What HiGHS says after refusing a model: 'model empty'."""

    def __init__(self, columns: int):
        self.columns = columns

    def getModelStatus(self):
        import highspy

        return highspy.HighsModelStatus.kModelEmpty

    def getNumCol(self):
        return self.columns


def test_model_empty_is_optimal_only_without_columns():
    from nl2opt.solvers.highs_direct import model_status

    assert model_status(_EmptyStatusHighs(0)) is Termination.optimal
    assert model_status(_EmptyStatusHighs(3)) is Termination.error


def test_time_limit_must_be_a_positive_number():
    model = formulation([{"name": "x"}], "x", ["x <= 5"], sense="maximize")
    for bad in (NAN, 0.0, -1.0):
        with pytest.raises(Exception, match="time limit"):
            solve(model, time_limit=bad)
    assert solve(model, time_limit=INF).objective == pytest.approx(5)


def test_arrays_with_non_finite_entries_are_refused_before_highs():
    model = compile_arrays(formulation([{"name": "x", "upper": 1}], "x", ["x <= 5"],
                                       sense="maximize"))
    model.objective[:] = np.inf
    with pytest.raises(CompileError, match="objective"):
        HighsDirectBackend().solve_arrays(model)
