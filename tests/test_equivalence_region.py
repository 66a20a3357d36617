"""Equivalence means the same feasible region up to the map, not only the same optima.

Reproductions: a model and the same model plus a cut that removes only points far
from every optimum (outside the near-optimal band), or a constraint that binds only
when the objective points the other way, were certified "equivalent": every check
looked at optima (and near-optima) of the given objective only. Pairs that are
equivalent (renamed, permuted, rows scaled, variables substituted, a redundant
constraint added) must stay certified."""

from __future__ import annotations

from pathlib import Path

import pytest

from nl2opt.equivalence import equivalent, from_formulation, map_from_expressions
from nl2opt.equivalence.region import region_problem
from nl2opt.equivalence.solving import solve
from nl2opt.formulation.model import load_formulation
from nl2opt.synthesis.families import get_family

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _scalar_model(objective: str, constraints: list[str], *, sense: str = "maximize",
                  integer: bool = False, names=("x", "y"), upper: float = 10):
    kind = "integer" if integer else "continuous"
    return load_formulation({
        "name": "square",
        "variables": [{"name": n, "type": kind, "lower": 0, "upper": upper} for n in names],
        "objective": {"sense": sense, "expression": objective},
        "constraints": [{"name": f"c{k}", "expression": text}
                        for k, text in enumerate(constraints)]})


def _with_constraint(formulation, name: str, expression: str, forall=None):
    data = formulation.to_dict()
    data["constraints"].append({"name": name, "expression": expression,
                                **({"forall": forall} if forall else {})})
    return load_formulation(data)


def _square():
    return _scalar_model("x + y", ["x + y <= 10"])


def _far_from_optimum_pairs():
    """(label, A, B): B is A plus a constraint no optimum or near-optimum of A violates."""
    square = _square()
    knapsack = _scalar_model("3 * x + 2 * y", ["x + y <= 4"], integer=True, upper=4)
    transport = load_formulation(EXAMPLES / "transport_lp.json")
    planning = get_family("production_planning").generate({}, 0)
    portfolio = load_formulation(EXAMPLES / "portfolio_qp.json")
    return [
        ("LP, binds only when minimizing", square, _with_constraint(square, "floor",
                                                                    "x + y >= 5")),
        ("LP, cuts a far corner", square, _with_constraint(square, "corner",
                                                           "2 * x + y >= 3")),
        ("MILP, removes the origin", knapsack, _with_constraint(knapsack, "some",
                                                                "x + y >= 1")),
        ("transport, a lane cap no cheap plan reaches", transport, _with_constraint(
            transport, "lane", "ship['glasgow', 'london'] <= 150")),
        ("QP, a weight cap no low-variance portfolio reaches", portfolio, _with_constraint(
            portfolio, "cap", "w['small_cap'] <= 0.6")),
        ("production planning, a stock cap no cheap plan reaches", planning,
         _with_constraint(planning, "stock_cap",
                          "sum(stock[p, t] for p in P for t in T) <= 25")),
    ]


@pytest.mark.parametrize("label, a, b", _far_from_optimum_pairs(),
                         ids=[p[0] for p in _far_from_optimum_pairs()])
def test_a_cut_far_from_every_optimum_is_not_equivalent(label, a, b):
    report = equivalent(a, b)
    assert report.objective_a == pytest.approx(report.objective_b)  # same optimum ...
    assert report.verdict == "not_equivalent", report.explain()  # ... other regions
    assert report.counterexample is not None
    assert report.counterexample["kind"] in ("region_soundness", "region_coverage")
    assert "target_point" in report.counterexample or \
        "source_point" in report.counterexample


def test_the_counterexample_is_a_point_of_one_region_outside_the_other():
    square = _square()
    floored = _with_constraint(square, "floor", "x + y >= 5")
    report = equivalent(square, floored)
    example = report.counterexample
    assert example["kind"] == "region_coverage"  # a point of A that B does not have
    point = example["target_point"]
    assert point.get("x", 0.0) + point.get("y", 0.0) < 5
    assert "feasible" in example["explanation"]


def test_region_check_on_a_map_given_by_hand():
    square, floored = _square(), _with_constraint(_square(), "floor", "x + y >= 5")
    a, b = from_formulation(square), from_formulation(floored)
    identity = map_from_expressions({"x": "x", "y": "y"}, a, b)
    problem = region_problem(identity, a, b, solve(a), seed=0)
    assert problem is not None and problem["kind"] == "region_coverage"
    assert region_problem(map_from_expressions({"x": "x", "y": "y"}, b, a), b, a,
                          solve(b), seed=0)["kind"] == "region_soundness"
    same = map_from_expressions({"x": "x", "y": "y"}, a, from_formulation(square))
    assert region_problem(same, a, from_formulation(square), solve(a), seed=0) is None


def _equivalent_pairs():
    square = _square()
    renamed = _scalar_model("u + v", ["3 * u + 3 * v <= 30"], names=("u", "v"))
    permuted = _scalar_model("y + x", ["-y - x >= -10"], names=("y", "x"))
    # x = 2 * u + 1, y = v: the same square written in (u, v)
    substituted = load_formulation({
        "name": "square", "variables": [
            {"name": "u", "type": "continuous", "lower": -0.5, "upper": 4.5},
            {"name": "y", "type": "continuous", "lower": 0, "upper": 10}],
        "objective": {"sense": "maximize", "expression": "2 * u + 1 + y"},
        "constraints": [{"name": "c0", "expression": "2 * u + y <= 9"}]})
    redundant = _with_constraint(square, "loose", "x + 2 * y <= 30")
    knapsack = _scalar_model("3 * x + 2 * y", ["x + y <= 4"], integer=True, upper=4)
    implied = _with_constraint(knapsack, "implied", "x <= 4 + y")
    transport = load_formulation(EXAMPLES / "transport_lp.json")
    return [("renamed, scaled row", square, renamed), ("permuted, negated row", square,
                                                       permuted),
            ("affine substitution", square, substituted),
            ("redundant constraint", square, redundant),
            ("MILP, implied constraint", knapsack, implied),
            ("transport, redundant total", transport, _with_constraint(
                transport, "total", "sum(ship[p, c] for p in P for c in C) <= 750"))]


@pytest.mark.parametrize("label, a, b", _equivalent_pairs(),
                         ids=[p[0] for p in _equivalent_pairs()])
def test_equivalent_pairs_stay_certified(label, a, b):
    report = equivalent(a, b)
    assert report.verdict == "equivalent", report.explain()


def test_the_region_check_is_bounded_and_seeded(monkeypatch):
    from nl2opt.equivalence import region

    square, floored = _square(), _with_constraint(_square(), "floor", "x + y >= 5")
    a, b = from_formulation(square), from_formulation(floored)
    identity = map_from_expressions({"x": "x", "y": "y"}, a, b)
    first = region.directions(identity, a, b, seed=3)
    assert len(first) == region.MAX_DIRECTIONS
    assert all((d == e).all() for d, e in zip(first, region.directions(identity, a, b, 3)))
    assert first[0] == pytest.approx([1.0, 1.0])  # the suspect: B's x + y >= 5, pushed down
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return solve(*args, **kwargs)

    monkeypatch.setattr(region, "solve", counted)
    same = map_from_expressions({"x": "x", "y": "y"}, a, from_formulation(square))
    assert region_problem(same, a, from_formulation(square), solve(a), seed=0) is None
    assert len(calls) == 2 * region.MAX_DIRECTIONS  # two solves per direction
