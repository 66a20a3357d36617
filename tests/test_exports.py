"""Exports and the CLI around them (issue 15, items 2 and 5): every model format re-imports
and solves to the same objective; `nl2opt export`, `nl2opt solve --sensitivity` and the API."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES
from typer.testing import CliRunner

import nl2opt
from nl2opt.analysis.exports import ExportError, export_model, export_solution, solution_csv
from nl2opt.api import solve_formulation
from nl2opt.cli import app
from nl2opt.formulation.model import load_formulation
from nl2opt.solvers.highs_direct import new_highs

CASES = ["bakery_lp.json", "facility_location_milp.json", "portfolio_qp.json",
         "inventory_lp.json"]


def solve_file(path) -> float:
    highs = new_highs()
    highs.setOptionValue("output_flag", False)
    highs.readModel(str(path))
    highs.run()
    return highs.getInfo().objective_function_value


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("fmt", ["lp", "mps"])
def test_lp_and_mps_re_import_and_solve_to_the_same_objective(name, fmt, tmp_path):
    formulation = load_formulation(EXAMPLES / name)
    written = tmp_path / f"model.{fmt}"
    written.write_bytes(export_model(formulation, fmt).data)
    expected = solve_formulation(formulation).objective
    assert solve_file(written) == pytest.approx(expected, rel=1e-6)


def test_json_re_imports_and_latex_and_pyomo_are_written(bakery, tmp_path):
    saved = tmp_path / "model.json"
    saved.write_bytes(export_model(bakery, "json").data)
    assert solve_formulation(load_formulation(saved)).objective == pytest.approx(7200 / 7)
    assert b"\\sum" in export_model(bakery, "latex").data
    assert b"pyo.ConcreteModel" in export_model(bakery, "pyomo").data
    assert "x(bread)" in export_model(bakery, "lp").data.decode()


def test_solution_tables_as_csv_and_excel(bakery):
    result = solve_formulation(bakery)
    lines = solution_csv(result).splitlines()
    assert lines[0] == "variable,index_1,value" and lines[1].startswith("x,bread,17.14")
    pytest.importorskip("openpyxl", reason="Excel export needs openpyxl")
    import io

    import pandas as pd

    sheets = pd.read_excel(io.BytesIO(export_solution(result, "xlsx").data), sheet_name=None)
    assert list(sheets) == ["summary", "x"] and list(sheets["x"]["P"]) == ["bread", "cake"]


def test_nonlinear_models_and_missing_solutions_are_refused_with_a_reason():
    with pytest.raises(nl2opt.Nl2OptError, match="only linear and quadratic-objective"):
        export_model(load_formulation(EXAMPLES / "pricing_nlp.json"), "lp")
    infeasible = solve_formulation(load_formulation(EXAMPLES / "relief_supply_infeasible.json"))
    with pytest.raises(ExportError, match="no solution to export"):
        export_solution(infeasible, "csv")


def test_cli_export_and_solve_with_sensitivity(tmp_path):
    runner = CliRunner()
    bakery = str(EXAMPLES / "bakery_lp.json")
    written = tmp_path / "bakery.mps"
    result = runner.invoke(app, ["export", bakery, "--format", "mps", "-o", str(written)])
    assert result.exit_code == 0, result.output
    assert solve_file(written) == pytest.approx(7200 / 7)
    latex = runner.invoke(app, ["export", bakery, "-f", "latex"])
    assert latex.exit_code == 0 and "\\sum" in latex.output
    assert runner.invoke(app, ["export", bakery, "-f", "docx"]).exit_code == 2
    solved = runner.invoke(app, ["solve", bakery, "--sensitivity"])
    assert solved.exit_code == 0, solved.output
    assert "One more unit of oven hours is worth $19.29 of profit" in solved.output
    assert "The best plan's profit is $1,028.57" in solved.output
    as_json = json.loads(runner.invoke(app, ["solve", bakery, "--sensitivity", "--json"]).output)
    assert as_json["sensitivity"]["rows"][0]["dual"] == pytest.approx(135 / 7)


def test_the_api_answers_the_same_questions(bakery):
    assert nl2opt.sensitivity(bakery).row("capacity", "flour_kg").dual == pytest.approx(15 / 7)
    assert nl2opt.sensitivity_sentences(bakery)[0].startswith("One more unit of oven hours")
    assert nl2opt.what_if(bakery, "available", ("oven_hours",), 60).objective_after == \
        pytest.approx(9900 / 7)
    assert nl2opt.why_not(bakery, "x['cake'] >= 15").objective_after == pytest.approx(975)
    relief = nl2opt.repairs(EXAMPLES / "relief_supply_infeasible.json")
    assert relief.repairs and relief.conflict[0].startswith("At least 80 (school)")
    assert nl2opt.export(bakery, "csv").startswith(b"variable,")
