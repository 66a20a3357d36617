"""Answers in the user's words: one number format, units from the parameters, names from
the descriptions, only inequalities called limits (issue 15, item 1)."""

from __future__ import annotations

import pytest

from nl2opt.api import solve_formulation
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.wording import (
    format_number,
    infer_units,
    objective_words,
    split_rate,
    with_unit,
)
from nl2opt.pipeline.explain import explain


@pytest.mark.parametrize("value, signed, text", [
    (1028.5714285, False, "1,028.57"), (1028.0, False, "1,028"), (17.142857, False, "17.14"),
    (385.714, True, "+385.71"), (-2.5, True, "-2.5"), (0.333333, False, "0.3333"),
    (1e-12, False, "0"), (None, False, "—"), (30000.0000001, False, "30,000")])
def test_numbers_have_one_format(value, signed, text):
    assert format_number(value, signed) == text


def test_units_read_as_money_or_quantities():
    assert split_rate("$/batch") == ("$", "batch") and split_rate("$ per acre") == ("$", "acre")
    assert with_unit(19.2857, "$") == "$19.29" and with_unit(-5, "$", signed=True) == "-$5"
    assert with_unit(40, "acres") == "40 acres" and with_unit(3, "") == "3"


def test_the_objective_unit_comes_from_the_rates_it_weighs(bakery):
    units = infer_units(bakery)
    assert units.objective == "$" and units.variables == {"x": "batch"}
    assert objective_words(bakery) == "profit"


def test_the_bakery_answer_reads_in_the_users_words(bakery):
    text = explain(bakery, solve_formulation(bakery))
    assert text.splitlines()[0] == "The best plan's profit is $1,028.57, the highest possible."
    assert "Batches per day — bread = 17.14, cake = 11.43." in text
    assert "oven hours at 40, flour kg at 120" in text and "x[" not in text


def test_equalities_are_never_called_limits_reached():
    model = Formulation.model_validate({
        "variables": [{"name": "make"}, {"name": "stock"}],
        "objective": {"sense": "minimize", "expression": "2 * make + stock"},
        "constraints": [
            {"name": "balance", "expression": "make - stock == 10",
             "description": "stock is what is made beyond the 10 sold"},
            {"name": "capacity", "expression": "make <= 10", "description": "machine hours"}]})
    text = explain(model, solve_formulation(model))
    assert "machine hours (at 10)" in text and "stock is what" not in text
