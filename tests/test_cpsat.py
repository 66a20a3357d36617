"""CP-SAT backend: pure-integer models solved exactly, checked against HiGHS."""

import math

import pytest

from nl2opt.errors import NotSupportedError
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.cpsat import ARTIFICIAL_BOUND, CpSatBackend
from nl2opt.solvers.highs_direct import HighsDirectBackend
from nl2opt.solvers.result import Termination

from helpers import formulation

pytest.importorskip("ortools.sat.python.cp_model", reason="OR-Tools is not installed")

CPSAT = CpSatBackend(num_workers=2)
HIGHS = HighsDirectBackend()
QUIET = SolveOptions(diagnose=False)


def solve_both(f):
    ours, reference = CPSAT.solve(f, QUIET), HIGHS.solve(f, QUIET)
    assert ours.termination is Termination.optimal, ours.message
    assert reference.termination is Termination.optimal
    assert math.isclose(ours.objective, reference.objective, rel_tol=1e-6, abs_tol=1e-9)
    return ours


def knapsack():
    items = ["map", "rope", "tent", "stove", "food"]
    weight = dict(zip(items, [1, 3, 8, 4, 5]))
    value = dict(zip(items, [6, 8, 20, 9, 13]))
    return formulation(
        [{"name": "take", "index": ["I"], "type": "binary"}],
        "sum(value[i] * take[i] for i in I)",
        [{"name": "capacity", "expression": "sum(weight[i] * take[i] for i in I) <= 14"}],
        [{"name": "I", "elements": items}],
        [{"name": "weight", "index": ["I"], "values": weight},
         {"name": "value", "index": ["I"], "values": value}],
        sense="maximize")


def test_knapsack_matches_highs_and_respects_capacity():
    result = solve_both(knapsack())
    assert result.objective == 39  # tent + food + map: weight 8 + 5 + 1 = 14
    taken = [key[0] for key, v in result.variables["take"].values if v > 0.5]
    weights = {"map": 1, "rope": 3, "tent": 8, "stove": 4, "food": 5}
    assert sum(weights[i] for i in taken) <= 14
    assert result.gap == 0.0 and result.bound == result.objective
    assert result.constraints["capacity"].rows[0]["activity"] <= 14


def test_assignment_with_two_dimensional_costs():
    workers, tasks = ["ann", "bob", "cy"], ["cut", "glue", "paint"]
    cost = {"ann": {"cut": 9, "glue": 2, "paint": 7}, "bob": {"cut": 6, "glue": 4, "paint": 3},
            "cy": {"cut": 5, "glue": 8, "paint": 1}}
    f = formulation(
        [{"name": "x", "index": ["W", "J"], "type": "binary"}],
        "sum(cost[w, j] * x[w, j] for w in W for j in J)",
        [{"name": "one_task", "forall": ["w in W"], "expression": "sum(x[w, j] for j in J) == 1"},
         {"name": "one_worker", "forall": ["j in J"],
          "expression": "sum(x[w, j] for w in W) == 1"}],
        [{"name": "W", "elements": workers}, {"name": "J", "elements": tasks}],
        [{"name": "cost", "index": ["W", "J"], "values": cost}])
    result = solve_both(f)
    assert result.objective == 9  # ann-glue 2 + bob-cut 6 + cy-paint 1
    assert [result.value("x", *pair) for pair in [("ann", "glue"), ("bob", "cut"),
                                                  ("cy", "paint")]] == [1, 1, 1]


def test_fractional_coefficients_are_scaled_exactly_with_offset():
    # 0.5x + 0.25y <= 3.7 is 2x + y <= 14.8, i.e. 2x + y <= 14 for whole numbers, and
    # x - 0.5y >= -1.25 is 2x - y >= -2; the objective is 0.75 (2x + y) + 2.5 <= 13.
    f = formulation(
        [{"name": "x", "type": "integer", "upper": 10}, {"name": "y", "type": "integer",
                                                         "upper": 10}],
        "1.5 * x + 0.75 * y + 2.5",
        ["0.5 * x + 0.25 * y <= 3.7", "x - 0.5 * y >= -1.25"], sense="maximize")
    result = solve_both(f)
    assert result.objective == 13.0
    x, y = result.value("x"), result.value("y")
    assert 0.5 * x + 0.25 * y <= 3.7 and x - 0.5 * y >= -1.25


def test_float_noise_in_a_bound_does_not_move_it_to_the_next_integer():
    # 0.1 * 3 * 10 is 3.0000000000000004 in floats; rounding it up must still give 3.
    f = formulation([{"name": "x", "type": "integer"}, {"name": "y", "type": "integer"}],
                    "x + y", ["x + y >= 0.1 * 3 * 10"])
    assert solve_both(f).objective == 3


def test_one_third_is_handled_exactly():
    # The float 1/3 is read as the rational 1/3 (the documented rule): rows scale by 3.
    f = formulation([{"name": "x", "type": "integer"}, {"name": "y", "type": "integer"}],
                    "x + 2 * y", ["x / 3 + y / 3 <= 2.5", "x <= 4"], sense="maximize")
    result = solve_both(f)
    assert result.objective == 14  # x + y <= 7.5, so y = 7 and x = 0
    assert result.value("x") + result.value("y") <= 7


def test_irrational_coefficient_is_refused_with_the_constraint_instance():
    f = formulation([{"name": "x", "index": ["P"], "type": "integer", "upper": 5}],
                    "sum(x[p] for p in P)",
                    [{"name": "cap", "forall": ["p in P"], "expression": "sqrt(w[p]) * x[p] <= 3"}],
                    [{"name": "P", "elements": ["a", "b"]}],
                    [{"name": "w", "index": ["P"], "values": {"a": 4, "b": 2}}],
                    sense="maximize")
    with pytest.raises(NotSupportedError) as error:
        CPSAT.solve(f, QUIET)
    message = str(error.value)
    assert "cap['b']" in message and "1.414" in message and "x['b']" in message
    assert "--solver highs" in message


def test_infeasible_model():
    f = formulation([{"name": "x", "type": "integer", "upper": 2},
                     {"name": "y", "type": "integer", "upper": 2}],
                    "x + y", ["x + y >= 5"])
    result = CPSAT.solve(f, QUIET)
    assert result.termination is Termination.infeasible and not result.has_solution
    assert HIGHS.solve(f, QUIET).termination is Termination.infeasible


def test_integrality_alone_makes_it_infeasible():
    # 2x + 2y == 3 has real solutions but no whole-number ones.
    f = formulation([{"name": "x", "type": "integer", "upper": 5},
                     {"name": "y", "type": "integer", "upper": 5}], "x", ["2 * x + 2 * y == 3"])
    assert CPSAT.solve(f, QUIET).termination is Termination.infeasible


def test_unbounded_model_is_reported_with_an_explanation():
    f = formulation([{"name": "x", "type": "integer"}, {"name": "y", "type": "integer"}],
                    "x + y", ["x - y <= 3"], sense="maximize")
    result = CPSAT.solve(f, QUIET)
    assert result.termination is Termination.unbounded and not result.has_solution
    assert "unbounded" in result.message and "artificial bound" in result.message
    assert HIGHS.solve(f, QUIET).termination is Termination.unbounded


def test_unbounded_diagnosis_names_the_loose_variables():
    f = formulation([{"name": "x", "type": "integer"}], "x", ["x >= 1"], sense="maximize")
    result = CPSAT.solve(f, SolveOptions())
    assert result.termination is Termination.unbounded
    assert "x" in result.diagnosis


def test_free_variable_that_does_not_drive_the_objective_stays_optimal():
    # y has no upper bound and no cost: wherever CP-SAT puts it, the optimum is x = 3.
    f = formulation([{"name": "x", "type": "integer"}, {"name": "y", "type": "integer",
                                                        "lower": None}],
                    "x", ["x >= 3", "x <= y"])
    result = solve_both(f)
    assert result.objective == 3
    assert f"artificial bound +-{ARTIFICIAL_BOUND}" in result.message


def test_a_value_forced_onto_the_artificial_bound_is_not_called_unbounded():
    # y >= 10**9 puts y exactly on the artificial bound; a larger box changes nothing.
    f = formulation([{"name": "x", "type": "integer"}, {"name": "y", "type": "integer"}],
                    "x", ["x >= 3", f"y >= {ARTIFICIAL_BOUND}"])
    result = CPSAT.solve(f, QUIET)
    assert result.termination is Termination.optimal, result.message
    assert result.objective == 3 and result.value("y") == ARTIFICIAL_BOUND
    assert "gives the same optimum" in result.message


def test_fractional_bounds_round_inwards_and_empty_domains_are_infeasible():
    f = formulation([{"name": "x", "type": "integer", "lower": 0.5, "upper": 2.5}], "x",
                    sense="maximize")
    result = solve_both(f)
    assert result.objective == 2
    empty = formulation([{"name": "z", "type": "integer", "lower": 0.2, "upper": 0.8}], "z")
    result = CPSAT.solve(empty, QUIET)
    assert result.termination is Termination.infeasible and "z" in result.message


def test_continuous_variables_are_refused_by_name():
    f = formulation([{"name": "x", "type": "integer"}, {"name": "flow"},
                     {"name": "stock", "type": "continuous"}], "x + flow + stock")
    with pytest.raises(NotSupportedError) as error:
        CPSAT.solve(f, QUIET)
    message = str(error.value)
    assert "flow" in message and "stock" in message and "--solver highs" in message
    assert "'x'" not in message


def test_quadratic_objective_is_refused():
    f = formulation([{"name": "x", "type": "integer", "upper": 3}], "x * x - x")
    with pytest.raises(NotSupportedError, match="quadratic"):
        CPSAT.solve(f, QUIET)


def test_log_is_captured_and_stdout_stays_clean(capfd):
    result = CPSAT.solve(knapsack(), SolveOptions(log=True, diagnose=False, time_limit=10))
    assert result.termination is Termination.optimal
    assert "CP-SAT" in result.log
    assert capfd.readouterr().out == ""


def test_backend_declares_milp_only():
    from nl2opt.formulation.classify import ProblemClass

    assert CPSAT.supports == frozenset({ProblemClass.MILP}) and CPSAT.is_available()


@pytest.mark.parametrize("status, time_limit, expected", [
    ("OPTIMAL", None, Termination.optimal), ("INFEASIBLE", 5.0, Termination.infeasible),
    ("FEASIBLE", 5.0, Termination.time_limit), ("FEASIBLE", None, Termination.interrupted),
    ("UNKNOWN", 5.0, Termination.time_limit), ("UNKNOWN", None, Termination.unknown),
    ("MODEL_INVALID", None, Termination.error)])
def test_status_mapping(status, time_limit, expected):
    from nl2opt.solvers.cpsat import _termination

    assert _termination(status, time_limit) is expected


def test_time_limited_search_keeps_its_incumbent_and_bound():
    # A 5-constraint knapsack over 300 items is not proven optimal in 1 s on 1 worker, while
    # a first incumbent comes within milliseconds (1 s leaves room on a loaded machine).
    import numpy as np

    rng = np.random.default_rng(1)
    items = [f"i{k}" for k in range(300)]
    weights = [{"name": f"w{k}", "index": ["I"],
                "values": dict(zip(items, rng.integers(1, 100, 300).tolist()))}
               for k in range(5)]
    f = formulation([{"name": "x", "index": ["I"], "type": "binary"}],
                    "sum(v[i] * x[i] for i in I)",
                    [f"sum(w{k}[i] * x[i] for i in I) <= 7500" for k in range(5)],
                    [{"name": "I", "elements": items}],
                    [{"name": "v", "index": ["I"],
                      "values": dict(zip(items, rng.integers(1, 100, 300).tolist()))}] + weights,
                    sense="maximize")
    result = CpSatBackend(num_workers=1).solve(f, SolveOptions(time_limit=1.0, diagnose=False))
    if result.termination is Termination.optimal:
        pytest.skip("CP-SAT proved this knapsack optimal within 1 s on this machine")
    assert result.termination is Termination.time_limit and result.has_solution
    assert result.bound >= result.objective and result.gap > 0
