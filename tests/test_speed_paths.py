"""The fast paths give the same answers as the slow ones: one compile per solve (the
prepared cache), arrays handed to HiGHS, models changed in place for re-solves."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import EXAMPLES

from nl2opt.formulation.arrays import compile_arrays
from nl2opt.formulation.model import load_formulation
from nl2opt.formulation.prepared import clear_cache, prepare, prepared_model, version_key
from nl2opt.formulation.validate import validate
from nl2opt.solvers.highs_direct import HighsDirectBackend
from nl2opt.solvers.highs_session import HighsSession
from nl2opt.solvers.result import Termination
from nl2opt.solvers.solve import solve

EXPECTED = json.loads((EXAMPLES / "expected.json").read_text(encoding="utf-8"))
LINEAR = sorted(name for name, label in EXPECTED.items() if label["class"] in ("LP", "MILP"))


def _transport(supply_a: float = 20, cost_a1: float = 4, demand_1: float = 15,
               sense: str = "minimize") -> dict:
    return {
        "sets": [{"name": "S", "elements": ["a", "b"]}, {"name": "D", "elements": [1, 2]}],
        "parameters": [
            {"name": "supply", "index": ["S"], "values": {"a": supply_a, "b": 25}},
            {"name": "demand", "index": ["D"], "values": {"1": demand_1, "2": 20}},
            {"name": "cost", "index": ["S", "D"],
             "table": [["a", 1, cost_a1], ["a", 2, 6], ["b", 1, 5], ["b", 2, 3]]}],
        "variables": [{"name": "x", "index": ["S", "D"]}],
        "objective": {"sense": sense,
                      "expression": "sum(cost[s, d] * x[s, d] for s in S for d in D)"},
        "constraints": [
            {"name": "ship", "forall": ["s in S"], "expression": "sum(x[s, d] for d in D) <= "
                                                                 "supply[s]"},
            {"name": "meet", "forall": ["d in D"], "expression": "sum(x[s, d] for s in S) >= "
                                                                 "demand[d]"}],
    }


def test_solve_compiles_once(monkeypatch):
    """validate's trial compile is the model HiGHS gets: compile_arrays runs once."""
    from nl2opt.formulation import arrays

    clear_cache()
    calls = []
    original = arrays.compile_arrays

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(arrays, "compile_arrays", counting)
    result = solve(load_formulation(_transport()))
    assert result.termination is Termination.optimal
    assert len(calls) == 1


def test_cached_model_is_read_only_and_compile_arrays_stays_fresh():
    formulation = load_formulation(_transport())
    shared = prepared_model(formulation)
    assert prepared_model(load_formulation(_transport())) is shared
    with pytest.raises(ValueError):
        shared.objective[0] = 1.0
    fresh = compile_arrays(formulation)
    fresh.objective[0] = 1.0  # callers of compile_arrays own their model


def test_version_key_tells_nan_infinity_and_none_apart():
    keys = {version_key(load_formulation({"variables": [{"name": "x", "upper": upper}],
                                          "objective": {"sense": "maximize",
                                                        "expression": "x"}}))
            for upper in (None, math.nan, math.inf, 1, 1.0 + 1e-12)}
    assert len(keys) == 5


def test_rewritten_csv_file_is_a_new_version(tmp_path):
    (tmp_path / "p.csv").write_text("k,v\na,1\nb,2\n")
    model = {"sets": [{"name": "K", "elements": ["a", "b"]}],
             "parameters": [{"name": "p", "index": ["K"],
                             "csv": {"path": "p.csv", "index_columns": ["k"],
                                     "value_column": "v"}}],
             "variables": [{"name": "x", "index": ["K"], "upper": 1}],
             "objective": {"sense": "maximize", "expression": "sum(p[k] * x[k] for k in K)"}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model))
    assert solve(load_formulation(path)).objective == pytest.approx(3)
    (tmp_path / "p.csv").write_text("k,v\na,10\nb,20\n")  # new content, new size
    assert solve(load_formulation(path)).objective == pytest.approx(30)


@pytest.mark.parametrize("example", LINEAR)
def test_validation_is_the_same_with_and_without_the_cache(example):
    formulation = load_formulation(EXAMPLES / example)
    clear_cache()
    cold = validate(formulation)
    warm = validate(load_formulation(EXAMPLES / example))
    assert [i.model_dump() for i in cold] == [i.model_dump() for i in warm]


@pytest.mark.parametrize("change", [
    {"supply_a": 12}, {"cost_a1": 1.5}, {"demand_1": 18}, {"sense": "maximize"},
    {"supply_a": 12, "cost_a1": 9, "demand_1": 5}])
def test_session_update_in_place_matches_a_fresh_solve(change):
    session = HighsSession(compile_arrays(load_formulation(_transport())))
    assert session.solve().termination is Termination.optimal
    variant = compile_arrays(load_formulation(_transport(**change)))
    assert session.update(variant)
    again = session.solve()
    fresh = HighsDirectBackend().solve_arrays(compile_arrays(load_formulation(_transport(**change))))
    assert again.termination is fresh.termination
    if fresh.objective is not None:
        assert again.objective == pytest.approx(fresh.objective)
        assert again.variables["x"].as_dict() == pytest.approx(fresh.variables["x"].as_dict())


def test_session_changes_a_coefficient_in_place_and_rebuilds_new_structure():
    base = load_formulation(_transport())
    session = HighsSession(compile_arrays(base))
    session.solve()
    doubled = base.model_copy(deep=True)
    doubled.constraints[0].expression = "sum(2 * x[s, d] for d in D) <= supply[s]"
    assert session.update(compile_arrays(doubled))
    expected = HighsDirectBackend().solve_arrays(compile_arrays(doubled)).objective
    assert session.solve().objective == pytest.approx(expected)
    fewer = base.model_copy(deep=True)
    fewer.constraints = fewer.constraints[:1]
    assert not session.update(compile_arrays(fewer))
    assert session.solve().objective == pytest.approx(0)


def test_session_resolves_after_infeasible_or_unbounded_disambiguation():
    unbounded = {"variables": [{"name": "x"}, {"name": "y", "lower": None}],
                 "objective": {"sense": "maximize", "expression": "x"},
                 "constraints": [{"name": "c", "expression": "x - y <= 4"}]}
    session = HighsSession(compile_arrays(load_formulation(unbounded)))
    assert session.solve().termination is Termination.unbounded
    bounded = dict(unbounded, constraints=unbounded["constraints"] + [
        {"name": "d", "expression": "x + y <= 10"}])
    session.update(compile_arrays(load_formulation(bounded)))
    assert session.solve().objective == pytest.approx(7)


def test_array_pass_matches_example_optima():
    for example in LINEAR:
        label = EXPECTED[example]
        result = HighsDirectBackend().solve(load_formulation(EXAMPLES / example))
        assert result.termination.value == label["termination"], example
        if label["objective"] is not None:
            assert result.objective == pytest.approx(label["objective"], rel=1e-6), example


def test_quadratic_objective_through_the_array_hessian():
    model = {"variables": [{"name": "x", "lower": None}, {"name": "y", "lower": None}],
             "objective": {"sense": "minimize",
                           "expression": "(x - 1) ** 2 + 2 * (y + 2) ** 2 + x * y"}}
    result = solve(load_formulation(model))
    # Minimum of (x-1)^2 + 2(y+2)^2 + xy: gradient zero at x = 16/7, y = -18/7.
    x, y = result.value("x"), result.value("y")
    assert (x, y) == pytest.approx((16 / 7, -18 / 7), abs=1e-6)
    assert prepare(load_formulation(model)).model().quadratic.nnz == 3
    assert np.isfinite(result.objective)
