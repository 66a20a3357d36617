"""Equivalence checking must not certify maps that only send one optimum to another.

Reproductions: a model and the same model with constraints dropped were found
"equivalent" through fitted maps that shift matched columns onto the other model's
optimum (transport without constraints; flow shop without its first-machine rows,
whose optimal sets are translates of each other)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nl2opt.equivalence import equivalent, from_formulation, map_from_expressions
from nl2opt.equivalence.matching import wl_matching
from nl2opt.equivalence.solving import random_directions, sample_optima, solve
from nl2opt.equivalence.verify import verify_map
from nl2opt.formulation.model import load_formulation
from nl2opt.synthesis.families import get_family

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _without(formulation, drop: str | None):
    """The formulation without the constraint family `drop` (None: without all)."""
    kept = [c for c in formulation.constraints if drop is not None and c.name != drop]
    return formulation.model_copy(update={"constraints": kept})


@pytest.mark.parametrize("family, drop", [
    ("transportation", None), ("production_planning", None), ("flow_shop", None),
    ("flow_shop", "first_machine"), ("flow_shop", "before"), ("flow_shop", "after"),
    ("flow_shop", "last"), ("parallel_machines", "assigned")])
def test_a_model_with_constraints_dropped_is_not_equivalent(family, drop):
    source = get_family(family).generate({}, 0)
    if drop is not None:
        assert drop in {c.name for c in source.constraints}
    report = equivalent(source, _without(source, drop))
    assert report.objective_a != pytest.approx(report.objective_b)
    assert report.verdict == "not_equivalent", report.explain()


def test_the_example_transport_model_without_constraints_is_not_equivalent():
    base = load_formulation(EXAMPLES / "transport_lp.json")
    report = equivalent(base, _without(base, None))
    assert report.verdict == "not_equivalent", report.explain()


def test_a_map_sending_the_unique_optimum_onto_the_other_is_not_a_certificate():
    """Both models have one optimum, so soundness and coverage on optima hold for a map
    that shifts one onto the other; near-optimal points must refute it."""
    base = get_family("transportation").generate({}, 0)
    full, empty = from_formulation(base), from_formulation(_without(base, None))
    s_full, s_empty = solve(full), solve(empty)
    shift = {name: f"{name} - {value:.12g}" for name, value in zip(full.names, s_full.x)}
    onto_zero = map_from_expressions(shift, empty, full)
    samples_full = sample_optima(full, s_full, random_directions(full.num_cols, 4, 1))
    samples_empty = sample_optima(empty, s_empty, random_directions(empty.num_cols, 4, 2))
    outcome = verify_map(onto_zero, empty, full, s_empty, s_full, samples_empty, samples_full)
    assert outcome.soundness_checked and outcome.coverage_checked  # optima agree ...
    assert not outcome.passed  # ... but near-optimal points do not
    assert outcome.counterexample["kind"].startswith("region_")
    assert "near-optimal" in outcome.counterexample["explanation"]


def _scaled_rows(base):
    """`base` with its variable renamed and every row multiplied by a positive constant
    (one also written with both sides negated)."""
    data = base.to_dict()
    data["variables"][0]["name"] = "flow"
    for k, constraint in enumerate(data["constraints"]):
        text = constraint["expression"].replace("ship[", "flow[")
        relation = "<=" if "<=" in text else ">="
        lhs, rhs = text.split(relation)
        factor = 3 + 4 * k
        constraint["expression"] = f"{factor} * ({lhs}) {relation} {factor} * ({rhs})"
        if k == 1:
            other = "<=" if relation == ">=" else ">="
            constraint["expression"] = f"-{factor} * ({lhs}) {other} -{factor} * ({rhs})"
    data["objective"]["expression"] = data["objective"]["expression"].replace("ship[", "flow[")
    return load_formulation(data)


def test_rows_scaled_by_positive_constants_are_matched_by_structure():
    base = load_formulation(EXAMPLES / "transport_lp.json")
    scaled = _scaled_rows(base)
    a, b = from_formulation(base), from_formulation(scaled)
    matching = wl_matching(a, b)
    assert matching is not None and len(set(matching.values())) == a.num_cols
    assert all(a.labels[i][1] == b.labels[j][1] for i, j in matching.items())
    report = equivalent(base, scaled)
    assert report.verdict == "equivalent" and report.method == "wl-match", report.explain()


def test_equality_rows_negated_are_matched_by_structure():
    base = get_family("production_planning").generate({}, 0)
    data = base.to_dict()
    data["variables"][0]["name"] = "produce"
    for constraint in data["constraints"]:
        text = constraint["expression"].replace("make[", "produce[")
        if "==" in text:
            lhs, rhs = text.split("==")
            text = f"2 * ({rhs}) == 2 * ({lhs})"  # both sides swapped: the row negated
        constraint["expression"] = text
    data["objective"]["expression"] = data["objective"]["expression"].replace("make[",
                                                                              "produce[")
    negated = load_formulation(data)
    matching = wl_matching(from_formulation(base), from_formulation(negated))
    assert matching is not None
    report = equivalent(base, negated)
    assert report.verdict == "equivalent" and report.method == "wl-match", report.explain()
