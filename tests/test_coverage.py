"""Fact coverage: correct formulations cover their texts, broken ones are reported."""

from __future__ import annotations

import pytest
from coverage_cases import EXAMPLES, example_cases, training_cases
from helpers import formulation

from nl2opt.api import solve_formulation
from nl2opt.coverage import check_coverage, coverage_feedback
from nl2opt.coverage.mutate import mutants
from nl2opt.formulation.model import load_formulation

BAKERY_TEXT = (EXAMPLES / "bakery.txt").read_text(encoding="utf-8")
TRAINING, TRAINING_SKIP = training_cases()


def _unused(text: str, model) -> list[str]:
    return [fact.text for fact in check_coverage(text, model).unused]


@pytest.mark.parametrize("case", example_cases(), ids=lambda case: case.name)
def test_every_example_covers_its_text(case):
    assert _unused(case.text, case.formulation) == []


@pytest.mark.skipif(not TRAINING, reason=TRAINING_SKIP or "no hand-checked training items")
@pytest.mark.parametrize("case", TRAINING, ids=lambda case: case.name)
def test_hand_checked_formulation_matches_ground_truth_and_covers_its_text(case):
    result = solve_formulation(case.formulation, time_limit=60)
    tolerance = 0.5 if case.rounded else 1e-6 * max(1.0, abs(case.ground_truth))
    assert result.objective == pytest.approx(case.ground_truth, abs=tolerance)
    assert [f.text for f in check_coverage(case.text, case.formulation).unused
            if f.text not in case.irrelevant] == []


def test_dropped_constraint_leaves_its_facts_unused(bakery):
    broken = bakery.model_copy(update={"constraints": []})
    assert _unused(BAKERY_TEXT, broken) == ["5", "2", "3", "40", "120"]


def test_changed_coefficient_is_an_unused_fact_and_an_invented_value(bakery_dict):
    bakery_dict["parameters"][2]["values"]["flour_kg"] = 125
    coverage = check_coverage(BAKERY_TEXT, load_formulation(bakery_dict))
    assert [fact.text for fact in coverage.unused] == ["120"]
    assert [(n.where, n.value) for n in coverage.invented] == [
        ("parameter 'available'[flour_kg]", 125.0)]
    feedback = coverage_feedback(coverage)
    assert feedback == [
        ("The statement says 'bakery has 40 oven hours and 120 kg of flour' (120), but "
        "no parameter, bound or number in the model has this value. Model what it states, "
        "or, if it does not matter, say why in the assumptions (mentioning 120)."),
        ("Parameter 'available' has values that appear nowhere in the statement "
        "('available'[flour_kg] = 125). Take the data from the statement, or say in the "
        "assumptions where these values come from.")]


def test_every_mutant_of_the_bakery_is_reported(bakery):
    for mutant in mutants(bakery):
        coverage = check_coverage(BAKERY_TEXT, mutant.formulation)
        assert coverage.unused or coverage.invented, f"{mutant.kind} {mutant.target}"


def test_unused_fact_feedback_quotes_the_statement():
    text = "The ferry may make at most 12 boat trips a day, each carrying 40 cars."
    model = formulation([{"name": "trips", "type": "integer"}], "trips",
                        ["40 * trips >= 300"], sense="maximize")
    assert coverage_feedback(check_coverage(text, model)) == [
        ("The statement says 'The ferry may make at most 12 boat trips a day' (12), but no "
        "parameter, bound or number in the model has this value. Model what it states, or, "
        "if it does not matter, say why in the assumptions (mentioning 12).")]


def test_percent_as_fraction_and_twice_as_coefficient():
    text = "At most 35% of the pipes may be high-volume, and low pipes are at least twice that."
    model = formulation([{"name": "high"}, {"name": "low"}], "high + low",
                        ["high <= 0.35 * (high + low)", "low >= 2 * high"])
    assert _unused(text, model) == []


def test_time_conversion_only_where_the_model_names_the_unit():
    text = "A kayak trip takes 2 hours."
    in_minutes = formulation([{"name": "x"}], "x", [
        {"name": "minutes_used", "expression": "120 * x <= 600",
         "description": "minutes of paddling"}])
    unitless = formulation([{"name": "x"}], "x", ["120 * x <= 600"])
    assert _unused(text, in_minutes) == []
    assert _unused(text, unitless) == ["2"]


def test_totals_and_derived_numbers_use_their_facts():
    text = ("Store 4 needs 8 pallets (A:3, B:2, C:3). A chair sells for $90 and costs "
            "$55 to make.")
    model = formulation(
        [{"name": "x", "index": ["P"]}], "sum(profit * x[p] for p in P)",
        [{"name": "demand", "forall": ["p in P"], "expression": "x[p] >= need[p]"}],
        sets=[{"name": "P", "elements": ["A", "B", "C"]}],
        parameters=[{"name": "need", "index": ["P"], "values": {"A": 3, "B": 2, "C": 3}},
                    {"name": "profit", "value": 35, "description": "price minus cost"}],
        sense="maximize")
    used = check_coverage(text, model).used
    assert "" not in used.values() and len(used) == 6  # 8 (a total), 3, 2, 3, 90 and 55


def test_facts_named_in_the_assumptions_count_as_handled():
    text = "The plant was built in 1995 and runs 3 shifts; each shift makes 40 units."
    model = formulation([{"name": "units"}], "units", ["units <= 40 * 3"], sense="maximize")
    assert _unused(text, model) == []
    text = "The plant has 8 loading bays and makes 40 units a shift."
    model = formulation([{"name": "units"}], "units", ["units <= 40"], sense="maximize")
    assert _unused(text, model) == ["8"]
    acknowledged = model.model_copy(update={"assumptions": [
        "The 8 loading bays never limit output."]})
    assert _unused(text, acknowledged) == []
