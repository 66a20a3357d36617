"""The command line, run through typer's runner (same code path as the console script)."""

import json

from typer.testing import CliRunner

from nl2opt.cli import app

from conftest import EXAMPLES

runner = CliRunner()


def test_solve_prints_the_answer():
    result = runner.invoke(app, ["solve", str(EXAMPLES / "bakery_lp.json")])
    assert result.exit_code == 0, result.output
    assert "optimal" in result.output and "1028.571429" in result.output
    assert "bread" in result.output


def test_solve_json_is_machine_readable():
    result = runner.invoke(app, ["solve", str(EXAMPLES / "bakery_lp.json"), "--json"])
    payload = json.loads(result.stdout)
    assert payload["termination"] == "optimal"
    assert abs(payload["objective"] - 7200 / 7) < 1e-6


def test_check_reports_errors_with_exit_code(tmp_path, bakery_dict):
    bakery_dict["objective"]["expression"] = "sum(proft[p] * x[p] for p in P)"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bakery_dict))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "did you mean 'profit'" in result.output


def test_check_ok_names_the_class():
    result = runner.invoke(app, ["check", str(EXAMPLES / "bakery_lp.json")])
    assert result.exit_code == 0 and "ok: LP" in result.output
    shifts = runner.invoke(app, ["check", str(EXAMPLES / "shift_staffing_cpsat.json")])
    assert "CP-SAT: applicable" in shifts.output


def test_bad_json_and_missing_file_are_clear_errors(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"variables": [], "objective": {"sense": "upward"}}')
    result = runner.invoke(app, ["solve", str(path)])
    assert result.exit_code == 2
    assert "is not a valid nl2opt formulation" in result.output
    assert "objective.sense" in result.output
    missing = runner.invoke(app, ["solve", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_schema_is_json_with_the_version_id():
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["$id"] == "nl2opt.formulation/1"
    assert {"sets", "parameters", "variables", "objective", "constraints"} <= set(
        schema["properties"])


def test_unknown_solver_is_a_clear_error():
    result = runner.invoke(app, ["solve", str(EXAMPLES / "bakery_lp.json"), "-s", "gurobi"])
    assert result.exit_code == 2 and "unknown solver 'gurobi'" in result.output


def test_run_code_reads_the_answer_and_cross_checks(tmp_path):
    script = tmp_path / "model.py"
    script.write_text(
        "import pyomo.environ as pyo\n"
        "m = pyo.ConcreteModel()\n"
        "m.x = pyo.Var(['bread', 'cake'], domain=pyo.NonNegativeReals)\n"
        "m.obj = pyo.Objective(expr=30 * m.x['bread'] + 45 * m.x['cake'], sense=pyo.maximize)\n"
        "m.oven = pyo.Constraint(expr=m.x['bread'] + 2 * m.x['cake'] <= 40)\n"
        "m.flour = pyo.Constraint(expr=5 * m.x['bread'] + 3 * m.x['cake'] <= 120)\n"
        "pyo.SolverFactory('highs').solve(m)\n")
    result = runner.invoke(app, ["run-code", str(script), "--against",
                                 str(EXAMPLES / "bakery_lp.json"), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["agrees"] and abs(payload["reported_objective"] - 7200 / 7) < 1e-6
