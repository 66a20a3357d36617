"""Infeasible and unbounded models come back as results with an explanation in user names."""

import nl2opt
from nl2opt.solvers.result import Termination

from helpers import formulation

SETS = [{"name": "P", "elements": ["chair", "table"]}]


def test_infeasible_lp_names_the_conflicting_constraints(bakery_dict):
    bakery_dict["constraints"].append({"name": "min_cake", "expression": "x['cake'] >= 30"})
    result = nl2opt.solve_formulation(bakery_dict)
    assert result.termination is Termination.infeasible and not result.has_solution
    assert "capacity['oven_hours']" in result.diagnosis
    assert "min_cake" in result.diagnosis
    assert "Smallest total violation that makes the model feasible: 10." in result.diagnosis


def test_infeasible_mip_caused_by_integrality_says_so():
    f = formulation([{"name": "n", "type": "integer", "upper": 10}], "n",
                    [{"name": "exact", "expression": "2 * n == 5"}])
    result = nl2opt.solve_formulation(f)
    assert result.termination is Termination.infeasible
    assert "integrality" in result.diagnosis


def test_unbounded_lp_names_the_variable_without_a_bound():
    f = formulation([{"name": "x", "index": ["P"]}, {"name": "y", "upper": 3}],
                    "sum(x[p] for p in P) + y", ["x['chair'] - x['table'] <= 4"], SETS,
                    sense="maximize")
    result = nl2opt.solve_formulation(f)
    assert result.termination is Termination.unbounded
    assert "no bound in the improving direction: x" in result.diagnosis


def test_feasible_results_carry_slacks_and_duals(bakery):
    result = nl2opt.solve_formulation(bakery)
    rows = result.constraints["capacity"].rows
    assert [round(r["slack"], 9) for r in rows] == [0, 0]
    assert all("dual" in r for r in rows)
