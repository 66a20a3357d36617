"""Sensitivity, what-if and why-not: numbers from the solver, sentences in the user's words
(issue 15, item 2). The bakery's duals are worked out by hand: with both limits binding,
bread + 2 cake = 40 and 5 bread + 3 cake = 120 give bread = 120/7 and cake = 80/7; the
duals y solve y1 + 5 y2 = 30 and 2 y1 + 3 y2 = 45, so y1 = 135/7 ($19.29 per oven hour)
and y2 = 15/7 ($2.14 per kg of flour). The oven-hour price holds while cake = (5h - 120)/7
and bread = (240 - 3h)/7 stay nonnegative: 24 <= h <= 80."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES

from nl2opt.analysis.edits import EditError, set_parameter
from nl2opt.analysis.sensitivity_text import sensitivity_text
from nl2opt.analysis.whatif import what_if, why_not
from nl2opt.api import solve_formulation
from nl2opt.errors import NotSupportedError
from nl2opt.formulation.model import load_formulation
from nl2opt.solvers.sensitivity import sensitivity


def test_bakery_duals_and_ranges_match_the_hand_computation(bakery):
    found = sensitivity(bakery)
    oven, flour = found.row("capacity", "oven_hours"), found.row("capacity", "flour_kg")
    assert oven.dual == pytest.approx(135 / 7) and flour.dual == pytest.approx(15 / 7)
    assert (oven.limit_low, oven.limit_high) == pytest.approx((24, 80))
    assert (flour.limit_low, flour.limit_high) == pytest.approx((60, 200))
    bread = found.column("x", "bread")
    assert bread.value == pytest.approx(120 / 7) and bread.reduced_cost == 0
    assert (bread.cost_low, bread.cost_high) == pytest.approx((22.5, 75))


def test_bakery_sensitivity_reads_as_sentences(bakery):
    text = sensitivity_text(bakery, sensitivity(bakery))
    assert text.limits[0] == ("One more unit of oven hours is worth $19.29 of profit, while "
                              "that limit stays between 24 and 80 (it is 40 now).")
    assert "flour kg is worth $2.14" in text.limits[1] and "between 60 and 200" in text.limits[1]
    assert "profit per batch of bread stays between $22.50 and $75" in text.stability[0]
    assert text.note == ""


def test_a_shadow_price_predicts_the_re_solved_objective_of_a_minimization():
    diet = load_formulation(EXAMPLES / "diet_lp.json")
    found = sensitivity(diet)
    calories = found.row("nutrient_range", "calories")
    assert calories.binding and calories.lower == 1800
    moved = what_if(diet, "min_intake", ("calories",), 1810)
    assert moved.objective_after - moved.objective_before == pytest.approx(10 * calories.dual)
    text = sensitivity_text(diet, found)
    assert any("Requiring one more unit of calories adds $0.002683" in s for s in text.limits)


def test_a_milp_gets_the_fixed_integer_lp_with_the_caveat():
    found = sensitivity(load_formulation(EXAMPLES / "facility_location_milp.json"))
    assert found.fixed_integers and found.objective == pytest.approx(29560)
    facility = load_formulation(EXAMPLES / "facility_location_milp.json")
    assert "whole-number decisions" in sensitivity_text(facility, found).note


def test_quadratic_models_are_refused():
    with pytest.raises(NotSupportedError, match="linear"):
        sensitivity(load_formulation(EXAMPLES / "portfolio_qp.json"))


def test_what_if_shows_old_and_new_value_and_the_difference(bakery):
    answer = what_if(bakery, "available", ("oven_hours",), 60)
    assert answer.question == "available for oven hours: 40 → 60"
    assert answer.objective_after == pytest.approx(9900 / 7)
    assert answer.sentences == [("With available for oven hours at 60, the best profit is "
                                 "$1,414.29 (+$385.71, better than now).")]
    assert [m.label for m in answer.moved] == ["batches per day: bread", "batches per day: cake"]


def test_why_not_shows_the_cost_of_the_alternative(bakery):
    answer = why_not(bakery, "x['cake'] >= 15", "at least 15 batches of cake")
    assert answer.objective_after == pytest.approx(975)
    assert "-$53.57, worse than now: that is its cost" in answer.sentences[0]
    impossible = why_not(bakery, "x['cake'] >= 150", "150 batches of cake")
    assert not impossible.feasible and "no plan meets every requirement" in \
        impossible.sentences[0]


def test_edits_say_what_is_wrong(bakery):
    with pytest.raises(EditError, match="no parameter 'price'"):
        set_parameter(bakery, "price", (), 3)
    with pytest.raises(EditError, match="'pie' is not an element of set P"):
        set_parameter(bakery, "profit", ("pie",), 3)
    with pytest.raises(EditError, match="cannot be solved"):
        why_not(bakery, "y >= 3")
    everything = set_parameter(bakery, "profit", None, 10)
    assert solve_formulation(everything).objective == pytest.approx(10 * (120 + 80) / 7)
