"""The Pyomo path: general compiler, HiGHS and SCIP through Pyomo, results under user names."""

import math

import pytest

from helpers import formulation
from nl2opt.errors import CompileError, NotSupportedError
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.highs_direct import HighsDirectBackend
from nl2opt.solvers.pyomo_backend import PyomoHighsBackend, ScipBackend
from nl2opt.solvers.pyomo_model import build_pyomo_model, translate_to_highs
from nl2opt.solvers.result import Termination

BACKENDS = [PyomoHighsBackend, ScipBackend]


def close(a, b, rel=1e-6, abs_=1e-7):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def inventory():
    """Stock balance over months 1..4 with stock[t - 1] only where t > 1."""
    return formulation(
        sets=[{"name": "T", "range": [1, 4]}],
        parameters=[{"name": "demand", "index": ["T"],
                     "values": {"1": 30, "2": 60, "3": 90, "4": 40}},
                    {"name": "cost", "index": ["T"], "values": {"1": 2, "2": 5, "3": 3, "4": 6}},
                    {"name": "hold", "value": 0.5}],
        variables=[{"name": "make", "index": ["T"], "upper": 70},
                   {"name": "stock", "index": ["T"]}],
        objective="sum(cost[t] * make[t] + hold * stock[t] for t in T)",
        constraints=[
            {"name": "first", "forall": ["t in T"], "where": "t == 1",
             "expression": "make[t] - demand[t] == stock[t]"},
            {"name": "balance", "forall": ["t in T"], "where": "t > 1",
             "expression": "stock[t - 1] + make[t] - demand[t] == stock[t]"},
        ])


@pytest.mark.parametrize("backend", BACKENDS)
def test_bakery_agrees_with_direct_highs(backend, bakery):
    reference = HighsDirectBackend().solve(bakery)
    result = backend().solve(bakery)
    assert result.termination is Termination.optimal and result.has_solution
    assert close(result.objective, reference.objective)
    for product in ("bread", "cake"):
        assert close(result.value("x", product), reference.value("x", product))
    assert result.variables["x"].index == ["P"]
    assert [key for key, _ in result.variables["x"].values] == [["bread"], ["cake"]]
    rows = result.constraints["capacity"].rows
    assert [row["index"] for row in rows] == [["oven_hours"], ["flour_kg"]]
    assert all(abs(row["slack"]) < 1e-6 for row in rows)  # both resources are binding
    assert rows[0]["upper"] == 40.0 and rows[0]["lower"] is None
    assert result.solver == backend.name


def test_lp_duals_match_direct_highs(bakery):
    reference = HighsDirectBackend().solve(bakery).constraints["capacity"].rows
    rows = PyomoHighsBackend().solve(bakery).constraints["capacity"].rows
    for mine, theirs in zip(rows, reference):
        assert close(mine["dual"], theirs["dual"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_infeasible_and_unbounded_are_results(backend):
    infeasible = formulation(variables=[{"name": "x"}], objective="x",
                             constraints=["x <= -1"])
    unbounded = formulation(variables=[{"name": "x"}, {"name": "y"}], objective="x + y",
                            constraints=["x - y <= 1"], sense="maximize")
    options = SolveOptions(diagnose=False)
    first = backend().solve(infeasible, options)
    second = backend().solve(unbounded, options)
    assert first.termination is Termination.infeasible and not first.has_solution
    assert second.termination is Termination.unbounded and not second.has_solution
    assert first.objective is None and second.objective is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_indexed_model_with_lag(backend):
    model = inventory()
    reference = HighsDirectBackend().solve(model)
    result = backend().solve(model)
    assert result.termination is Termination.optimal
    assert close(result.objective, reference.objective)
    assert [key for key, _ in result.variables["stock"].values] == [[1], [2], [3], [4]]
    make, stock = result.variables["make"].as_dict(), result.variables["stock"].as_dict()
    demand = {1: 30, 2: 60, 3: 90, 4: 40}
    for t in (2, 3, 4):  # alternative optima exist, so check the balance, not the plan
        assert close(stock[(t - 1,)] + make[(t,)] - demand[t], stock[(t,)], abs_=1e-6)
    assert [row["index"] for row in result.constraints["balance"].rows] == [[2], [3], [4]]
    assert [row["index"] for row in result.constraints["first"].rows] == [[1]]


def test_index_leaving_its_set_names_element_and_tuple():
    model = inventory()
    model.constraints[1].where = None
    with pytest.raises(CompileError) as error:
        build_pyomo_model(model)
    message = str(error.value)
    assert "constraint 'balance'" in message
    assert "= 0 is not an element of set 'T'" in message and "t = 1" in message


def test_nonconvex_nlp_reaches_the_global_minimum():
    # f(x) = (x - 2)^2 (x + 1) + 1 on [-0.5, 4]: f'(x) = 3x(x - 2), so x = 0 is a local
    # maximum (f = 5) and x = 2 a local minimum (f = 1); the ends give f(-0.5) = 4.125 and
    # f(4) = 21. The global minimum is therefore f = 1 at x = 2.
    model = formulation(variables=[{"name": "x", "lower": -0.5, "upper": 4}],
                        objective="(x - 2)**2 * (x + 1) + 1")
    result = ScipBackend().solve(model)
    assert result.termination is Termination.optimal
    assert close(result.objective, 1.0, rel=1e-6, abs_=1e-6)
    assert abs(result.value("x") - 2.0) < 1e-3


def test_exp_log_model():
    # exp(x) - 2x is convex with derivative exp(x) - 2 = 0 at x = ln 2; value 2 - 2 ln 2.
    # log(y) <= 1 caps y at e; maximizing y inside the objective hits that cap.
    model = formulation(variables=[{"name": "x", "lower": None}, {"name": "y", "lower": 1}],
                        objective="exp(x) - 2 * x - y", constraints=["log(y) <= 1"])
    result = ScipBackend().solve(model)
    assert result.termination is Termination.optimal
    assert close(result.objective, 2 - 2 * math.log(2) - math.e, rel=1e-6)
    assert abs(result.value("x") - math.log(2)) < 5e-3  # the objective is flat there


def test_minlp_reaches_the_hand_derived_optimum():
    # minimize exp(x) - 3x + (n - 2.7)^2 subject to x * n >= 4, n integer in [0, 10].
    # For fixed n the best x is max(ln 3, 4/n) (exp(x) - 3x is convex, minimal at ln 3):
    # n=2 -> x=2: 1.879; n=3 -> x=4/3: exp(4/3) - 4 + 0.09 = -0.1163; n=4 -> x=ln 3: 1.394;
    # n=1 and n>=5 are worse and n=0 is infeasible. Optimum: n = 3, x = 4/3.
    model = formulation(
        variables=[{"name": "n", "type": "integer", "upper": 10},
                   {"name": "x", "upper": 5}],
        objective="exp(x) - 3 * x + (n - 2.7)**2", constraints=["x * n >= 4"])
    result = ScipBackend().solve(model)
    assert result.termination is Termination.optimal
    assert close(result.objective, math.exp(4 / 3) - 4 + 0.09, rel=1e-6)
    assert result.value("n") == pytest.approx(3)
    assert result.value("x") == pytest.approx(4 / 3, abs=1e-4)
    assert result.bound is not None and result.gap is not None


def test_abs_min_max_of_variables_on_scip():
    # max(x - 3, 1 - x) is smallest where both pieces meet: x = 2, value -1.
    # |y - 2.5| + 0.1 y has slopes -0.9 then 1.1, so y = 2.5 and the value 0.25.
    model = formulation(
        variables=[{"name": "x", "lower": -10, "upper": 10},
                   {"name": "y", "lower": -10, "upper": 10}, {"name": "z", "lower": None}],
        objective="z + abs(y - 2.5) + 0.1 * y", constraints=["z >= max(x - 3, 1 - x)",
                                                             "min(x, y) <= 5"])
    result = ScipBackend().solve(model)
    assert result.termination is Termination.optimal
    assert close(result.objective, -1 + 0.25, abs_=1e-6)
    assert result.value("x") == pytest.approx(2, abs=1e-4)


def test_pyomo_highs_refuses_nonlinear_models():
    model = formulation(variables=[{"name": "x"}], objective="exp(x)")
    with pytest.raises(NotSupportedError, match="NLP"):
        PyomoHighsBackend().solve(model)


def test_constant_false_constraint_is_infeasible():
    model = formulation(parameters=[{"name": "a", "value": 2}], variables=[{"name": "x"}],
                        objective="x", constraints=["a <= 1"])
    result = ScipBackend().solve(model)
    assert result.termination is Termination.infeasible
    assert "c0" in result.message


def test_log_time_limit_and_mip_bound():
    model = formulation(
        sets=[{"name": "I", "range": [1, 5]}],
        parameters=[{"name": "w", "index": ["I"], "values": {"1": 3, "2": 4, "3": 5, "4": 6,
                                                            "5": 7}}],
        variables=[{"name": "pick", "index": ["I"], "type": "binary"}],
        objective="sum(w[i] * pick[i] for i in I)", sense="maximize",
        constraints=["sum(w[i] * pick[i] for i in I) <= 12"])
    for backend in BACKENDS:
        result = backend().solve(model, SolveOptions(time_limit=30, log=True))
        assert result.termination is Termination.optimal
        assert result.objective == pytest.approx(12)  # 3 + 4 + 5 or 5 + 7
        assert result.bound == pytest.approx(12) and result.gap == pytest.approx(0, abs=1e-6)
        assert result.log.strip()


def test_translate_to_highs_builds_without_solving(bakery):
    highs = translate_to_highs(build_pyomo_model(bakery))
    assert (highs.getNumCol(), highs.getNumRow()) == (2, 2)
    assert str(highs.getModelStatus()).endswith("kNotset")
    highs.run()
    assert close(highs.getInfo().objective_function_value, 1028.5714285714287)


def test_build_maps_user_names(bakery):
    build = build_pyomo_model(bakery)
    assert set(build.variables) == {"x"} and set(build.constraints) == {"capacity"}
    part = build.constraints["capacity"][0]
    assert part.keys == (("oven_hours",), ("flour_kg",))
    assert [str(con.upper) for _, con in part.items()] == ["40.0", "120.0"]
