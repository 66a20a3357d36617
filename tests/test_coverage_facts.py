"""Fact extraction from hand-written statements: units, percentages, number words, tables."""

from __future__ import annotations

import pytest

from nl2opt.coverage import FactKind, Role, extract_facts
from nl2opt.coverage.facts import parse_number_words


def _data(text: str) -> list[tuple[float, str]]:
    return [(f.value, f.unit) for f in extract_facts(text) if f.role is Role.data]


def test_digits_with_units_thousands_separators_and_currency():
    facts = extract_facts("The fuel limit is 48,000 liters and a trip costs $6.5 per boat.")
    assert [(f.value, f.unit) for f in facts] == [(48000.0, "liters"), (6.5, "$")]
    assert facts[0].context == "The fuel limit is 48,000 liters"


def test_percentages_fractions_and_scales():
    facts = extract_facts("At least 20% of the land, 3/4 of the budget and 2.5 million "
                          "dollars; ten percent is reserved.")
    assert [(f.kind, f.value) for f in facts] == [
        (FactKind.percent, 20.0), (FactKind.fraction, 0.75), (FactKind.number, 2.5),
        (FactKind.percent, 10.0)]
    assert facts[2].values == (2.5, 2.5e6)


@pytest.mark.parametrize("text, value", [
    ("at most twice as many cars as trucks", 2.0),
    ("a dozen eggs", 12.0),
    ("two dozen eggs", 24.0),
    ("two-thirds of the staff", 2 / 3),
    ("one quarter of the floor", 0.25),
    ("a third of the trucks", 1 / 3),
    ("half of the budget", 0.5),
    ("twenty-five workers", 25.0),
    ("three hundred and ten boxes", 310.0),
    ("triple the output", 3.0),
])
def test_number_words(text, value):
    values = [f.value for f in extract_facts(text)]
    assert values == [pytest.approx(value)]


def test_ordinals_and_names_are_not_quantities():
    text = ("A third machine arrives in the 8th week. Table 1.3 lists it; Node 4 and "
            "demonstration 2 are ready, as are Stores 4, 5 and 6 since 2023.")
    assert _data(text) == []


def test_value_one_is_trivial_and_never_data():
    facts = extract_facts("Each worker makes 1 chair and one table.")
    assert [f.role for f in facts] == [Role.trivial, Role.trivial]


def test_markdown_table_cells_carry_row_and_column_labels():
    text = ("Prices per month:\n\n| Month | 1 | 2 |\n|---|---|---|\n"
            "| Buy (Yuan) | 8 | 6 |\n| Sell (Yuan) | 9 | 8 |\n")
    data = [f for f in extract_facts(text) if f.role is Role.data]
    assert [(f.value, f.row_label, f.column_label) for f in data] == [
        (8.0, "Buy (Yuan)", "1"), (6.0, "Buy (Yuan)", "2"), (9.0, "Sell (Yuan)", "1"),
        (8.0, "Sell (Yuan)", "2")]
    assert data[0].describe() == "the table entry 'Buy (Yuan) / 1' (8)"


def test_latex_table_and_inline_math():
    text = ("Each worker produces $10 \\mathrm{kg} / \\mathrm{h}$ of food.\n\n"
            "\\begin{tabular}{c|c}\nWeek & Demand \\\\\n\\hline\n1 & 15 \\\\\n2 & 25 \\\\\n"
            "\\end{tabular}")
    data = [f for f in extract_facts(text) if f.role is Role.data]
    assert [(f.value, f.unit) for f in data[:1]] == [(10.0, "kg / h of food")]
    assert [(f.value, f.column_label) for f in data[1:]] == [(15.0, "Demand"), (25.0, "Demand")]


def test_unit_sizes_are_not_quantities():
    assert _data("The price is given per 100 kg and demand in units of 1000 boxes.") == []


def test_parse_number_words():
    assert parse_number_words("forty-two") == 42
    assert parse_number_words("a thousand") == 1000
    assert parse_number_words("two thousand five hundred") == 2500
