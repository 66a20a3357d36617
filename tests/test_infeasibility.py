"""Actionable infeasibility: the conflict in plain words first, then repairs, one per lever,
each verified by a re-solve (issue 15, item 3)."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES

from nl2opt.analysis.edits import set_parameter
from nl2opt.analysis.infeasibility import INTEGRALITY, analyze_infeasible
from nl2opt.api import solve_formulation
from nl2opt.app.demo import load_answers
from nl2opt.formulation.model import Formulation, load_formulation


@pytest.fixture
def farm() -> Formulation:
    return Formulation.model_validate(load_answers()["farm"]["formulation"])


def test_the_farm_conflict_reads_as_acres_needed_and_available(farm):
    found = analyze_infeasible(farm)
    assert found.conflict[0] == ("At least 60 (wheat) + 50 (corn) = 110 acres are required, but "
                                 "at most 100 acres are available.")
    assert "- Acres planted for wheat must be at least 60 acres" in found.conflict
    assert not any("plant[" in line or "+1*" in line for line in found.conflict)
    assert [r.text for r in found.repairs] == [
        "Raise land from 100 to 110 acres (+10 acres)",
        "Lower minimum acres required by contracts for wheat from 60 to 50 acres (-10 acres)",
        "Lower minimum acres required by contracts for corn from 50 to 40 acres (-10 acres)"]
    assert found.repairs[0].outcome == "With this change, the best season profit is $27,000."


@pytest.mark.parametrize("source", ["farm", "relief"])
def test_every_repair_makes_the_model_feasible_when_applied(source, farm):
    model = farm if source == "farm" else load_formulation(EXAMPLES /
                                                            "relief_supply_infeasible.json")
    repairs = analyze_infeasible(model).repairs
    assert len(repairs) >= 3
    for repair in repairs:
        fixed = set_parameter(model, repair.parameter, tuple(repair.key), repair.value)
        result = solve_formulation(fixed)
        assert result.termination.value == "optimal", repair.text
        assert result.objective == pytest.approx(repair.comparison.objective_after)


def test_the_relief_shortage_is_summed_over_depots_and_shelters():
    found = analyze_infeasible(load_formulation(EXAMPLES / "relief_supply_infeasible.json"))
    assert found.conflict[0] == (
        "At least 80 (school) + 90 (stadium) + 70 (church) = 240 pallets are required, but "
        "at most 100 (depot east) + 120 (depot west) = 220 pallets are available.")


def test_a_limit_written_as_a_number_is_repaired_on_the_model_itself():
    model = Formulation.model_validate({
        "variables": [{"name": "x", "lower": 4}, {"name": "y", "lower": 3}],
        "objective": {"sense": "maximize", "expression": "x + y"},
        "constraints": [{"name": "room", "expression": "x + y <= 5",
                         "description": "room in the van"}]})
    found = analyze_infeasible(model)
    assert found.conflict[0].startswith("At least 4 (x) + 3 (y) = 7 are required")
    room, *bounds = found.repairs
    assert room.text == ("Let room in the van be at most 7 instead of 5 (edit that constraint "
                         "in the model)") and room.parameter == ""
    assert bounds[0].text == "Let x be at least 2 instead of 4 (edit its bound in the model)"


def test_a_conflict_from_whole_numbers_says_so():
    model = Formulation.model_validate({
        "variables": [{"name": "x", "type": "integer"}],
        "objective": {"sense": "minimize", "expression": "x"},
        "constraints": [{"name": "odd", "expression": "2 * x == 3"}]})
    assert analyze_infeasible(model).conflict == [INTEGRALITY]


def test_infeasibility_analysis_is_json_safe(farm):
    data = json.loads(analyze_infeasible(farm).model_dump_json())
    assert data["repairs"][0]["comparison"]["after"]["termination"] == "optimal"
