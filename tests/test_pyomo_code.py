"""Emitted Pyomo scripts are readable, valid Python, and solve to nl2opt's own answer."""

import ast
import json
import math
import subprocess
import sys

import pytest

from helpers import formulation
from nl2opt.api import solve_formulation
from nl2opt.solvers.pyomo_code import emit_pyomo_script
from nl2opt.solvers.result import Termination


def run_script(script: str, folder) -> str:
    """Run a script in a subprocess from `folder`; return the final machine-readable line."""
    path = folder / "model_script.py"
    path.write_text(script, encoding="utf-8")
    done = subprocess.run([sys.executable, str(path)], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines()
             if line.startswith(("OBJECTIVE = ", "STATUS = "))]
    assert lines, done.stdout[-2000:]
    return lines[-1]


def assert_same_answer(model, folder, solver=None):
    expected = solve_formulation(model)
    script = emit_pyomo_script(model, solver)
    ast.parse(script)  # syntax only; the script runs in a subprocess below
    last = run_script(script, folder)
    if expected.termination is Termination.optimal:
        assert last.startswith("OBJECTIVE = "), last
        value = float(last.split("=", 1)[1])
        assert math.isclose(value, expected.objective, rel_tol=1e-6, abs_tol=1e-8), (
            value, expected.objective)
    else:
        assert last == f"STATUS = {expected.termination.value}"
    return script


def transport():
    return formulation(
        sets=[{"name": "S", "elements": ["north", "south"]},
              {"name": "D", "elements": ["a", "b", "c"]}],
        parameters=[
            {"name": "supply", "index": ["S"], "values": {"north": 50, "south": 60}},
            {"name": "demand", "index": ["D"], "values": {"a": 30, "b": 40, "c": 25}},
            {"name": "cost", "index": ["S", "D"], "values": {
                "north": {"a": 4, "b": 6, "c": 9}, "south": {"a": 5, "b": 3.5, "c": 7}}}],
        variables=[{"name": "ship", "index": ["S", "D"]}],
        objective="sum(cost[s, d] * ship[s, d] for s in S for d in D)",
        constraints=[
            {"name": "out", "forall": ["s in S"],
             "expression": "sum(ship[s, d] for d in D) <= supply[s]"},
            {"name": "meet", "forall": ["d in D"],
             "expression": "sum(ship[s, d] for s in S) >= demand[d]"}])


def knapsack():
    return formulation(
        sets=[{"name": "I", "range": [1, 6]}],
        parameters=[
            {"name": "value", "index": ["I"], "table": [[1, 10], [2, 13], [3, 7], [4, 8],
                                                        [5, 9], [6, 4]]},
            {"name": "weight", "index": ["I"], "default": 3,
             "values": {"1": 5, "2": 7, "4": 4}},
            {"name": "capacity", "value": 14}],
        variables=[{"name": "take", "index": ["I"], "type": "binary"},
                   {"name": "extra", "type": "integer", "upper": 2}],
        objective="sum(value[i] * take[i] for i in I) + 2.5 * extra", sense="maximize",
        constraints=["sum(weight[i] * take[i] for i in I) + 3 * extra <= capacity",
                     {"name": "pairs", "forall": ["i in I"], "where": "i < 6 and i != 3",
                      "expression": "take[i] + take[i + 1] <= 1"}])


def inventory():
    return formulation(
        sets=[{"name": "T", "range": [1, 5]}],
        parameters=[
            {"name": "demand", "index": ["T"], "values": {"1": 20, "2": 50, "3": 80,
                                                          "4": 30, "5": 60}},
            {"name": "cost", "index": ["T"], "values": {"1": 3, "2": 4, "3": 6, "4": 5,
                                                        "5": 7}},
            {"name": "cap", "index": ["T"], "default": 55}],
        variables=[{"name": "make", "index": ["T"], "upper": "cap[T]"},
                   {"name": "stock", "index": ["T"], "upper": 100}],
        objective="sum(cost[t] * make[t] + 0.4 * stock[t] for t in T)",
        constraints=[
            {"name": "start", "forall": ["t in T"], "where": "t == 1",
             "expression": "make[t] - demand[t] == stock[t]"},
            {"name": "balance", "forall": ["t in T"], "where": "t > 1",
             "expression": "stock[t - 1] + make[t] - demand[t] == stock[t]"}])


def test_bakery_script_reads_like_hand_written_pyomo(bakery, tmp_path):
    script = assert_same_answer(bakery, tmp_path)
    for piece in ('"""Bakery production plan', "import pyomo.environ as pyo",
                  "m = pyo.ConcreteModel(", "m.P = pyo.Set(initialize=P)",
                  "m.use = pyo.Param(m.R, m.P, initialize=use)",
                  "m.x = pyo.Var(m.P, domain=pyo.NonNegativeReals)",
                  "def objective_rule(m):",
                  "return sum(m.profit[p] * m.x[p] for p in m.P)",
                  "sense=pyo.maximize", "def capacity_rule(m, r):",
                  "return sum(m.use[r, p] * m.x[p] for p in m.P) <= m.available[r]",
                  "m.capacity = pyo.Constraint(m.R, rule=capacity_rule)",
                  "pyo.SolverFactory('highs')", "OBJECTIVE = "):
        assert piece in script, piece
    assert "('oven_hours', 'bread'): 1" in script  # 2-D data keyed by tuples
    assert all(len(line) <= 100 for line in script.splitlines())
    assert "\t" not in script


def test_lp_with_two_dimensional_parameters(tmp_path):
    assert_same_answer(transport(), tmp_path)


def test_milp_with_defaults_table_and_where(tmp_path):
    script = assert_same_answer(knapsack(), tmp_path)
    assert "default=3" in script and "domain=pyo.Binary" in script
    assert "if not (i < 6 and i != 3):" in script
    assert "m.value_ = pyo.Param" in script or "m.value = pyo.Param" in script


def test_inventory_with_lag_and_expression_bounds(tmp_path):
    script = assert_same_answer(inventory(), tmp_path)
    assert "m.stock[t - 1]" in script and "return (0, m.cap[t])" in script


def test_csv_parameter_read_at_run_time(tmp_path):
    (tmp_path / "costs.csv").write_text("item,cost\nbolt,2.5\nnut,1.25\nwasher,0.5\n")
    model = formulation(
        sets=[{"name": "K", "csv": {"path": "costs.csv", "value_column": "item"}}],
        parameters=[{"name": "cost", "index": ["K"],
                     "csv": {"path": "costs.csv", "index_columns": ["item"],
                             "value_column": "cost"}}],
        variables=[{"name": "buy", "index": ["K"], "lower": 2}],
        objective="sum(cost[k] * buy[k] for k in K)",
        constraints=["sum(buy[k] for k in K) >= 10"]).with_data_dir(tmp_path)
    script = assert_same_answer(model, tmp_path)
    assert "csv_param(DATA_DIR / 'costs.csv', ['item'], 'cost', [K])" in script


@pytest.mark.parametrize("elements", [["01", "1"], ["1", "01"], [1, "01"], ["7"]])
def test_csv_keys_name_the_same_elements_as_in_nl2opt(tmp_path, elements):
    """A key '01' is the element '01' when the set has it (not the int 1 that names '1'),
    and '+7' names the element '7', as when nl2opt reads the file."""
    keys = {"01": "01", "1": "1", "7": "+7"}
    rows = "".join(f"{keys[str(e)]},{k + 5}\n" for k, e in enumerate(elements))
    (tmp_path / "p.csv").write_text("k,v\n" + rows)
    weights = {str(e): 10 ** k for k, e in enumerate(elements)}
    model = formulation(
        sets=[{"name": "S", "elements": elements}],
        parameters=[{"name": "p", "index": ["S"], "default": 0, "csv": {
            "path": "p.csv", "index_columns": ["k"], "value_column": "v"}},
                    {"name": "w", "index": ["S"], "values": weights}],
        variables=[{"name": "x", "index": ["S"], "upper": 1}],
        objective="sum(p[s] * w[s] * x[s] for s in S)", sense="maximize",
    ).with_data_dir(tmp_path)
    assert solve_formulation(model).objective == sum(
        (k + 5) * 10 ** k for k in range(len(elements)))
    assert_same_answer(model, tmp_path)


def test_nonlinear_script_uses_scip(tmp_path):
    # Same hand-derived MINLP as in test_pyomo_backend: n = 3, x = 4/3.
    model = formulation(
        variables=[{"name": "n", "type": "integer", "upper": 10}, {"name": "x", "upper": 5},
                   {"name": "z", "lower": None}],
        objective="exp(x) - 3 * x + (n - 2.7)**2 + z",
        constraints=["x * n >= 4", "z >= max(x - 2, 1 - x) - 1", "abs(z) <= 3"])
    script = assert_same_answer(model, tmp_path)
    assert "pyo.SolverFactory('scip_direct')" in script and "pyo.exp(m.x)" in script
    assert "pyomo_abs(" in script


def test_infeasible_model_prints_status(tmp_path):
    model = formulation(variables=[{"name": "x", "upper": 1}], objective="x",
                        constraints=["x >= 2"])
    assert_same_answer(model, tmp_path)


def test_names_that_collide_with_python_or_pyomo_are_guarded(tmp_path):
    # An index called m (the usual model name), a parameter called `name` and a set called
    # `index` (both Pyomo block attributes; `index` is also a name the script uses).
    model = formulation(
        sets=[{"name": "M", "elements": ["a", "b"]}, {"name": "index", "elements": [1, 2]}],
        parameters=[{"name": "name", "index": ["M"], "values": {"a": 1, "b": 2}}],
        variables=[{"name": "x", "index": ["M", "index"], "upper": 4}],
        objective="sum(name[m] * x[m, k] for m in M for k in index)", sense="maximize",
        constraints=[{"name": "cap", "forall": ["m in M"],
                      "expression": "sum(x[m, k] for k in index) <= 5"}])
    script = assert_same_answer(model, tmp_path)
    assert "model = pyo.ConcreteModel(" in script and "def cap_rule(model, m):" in script
    assert "model.name_ = pyo.Param" in script and "index_ = [1, 2]" in script


@pytest.mark.parametrize("solver", ["scip_direct"])
def test_solver_override(bakery, tmp_path, solver):
    script = assert_same_answer(bakery, tmp_path, solver=solver)
    assert f"pyo.SolverFactory({solver!r})" in script


# Python keywords and builtins, names the script uses, Pyomo block attributes, free text.
AWKWARD_NAMES = ["return", "lambda", "sum", "range", "model", "m", "pyo", "print", "value",
                 "list", "float", "index", "var", "solver", "results", "objective", "name",
                 "clone", "component", "None", "True", "class", "match", "_", "max hours",
                 "1st", "", "café", "x", "objective_rule", "c_rule", "__init__", "__class__"]
_RUN_ALL = """import contextlib, io, json, runpy, sys
last = []
for path in sys.argv[1:]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(path, run_name="__main__")
    last.append([l for l in out.getvalue().splitlines() if l.startswith("OBJECTIVE = ")])
print(json.dumps(last))
"""


def _awkward_model(set_name="I", param="cap", variable="x", index="i", constraint="c"):
    return formulation(
        sets=[{"name": set_name, "range": [1, 2]}],
        parameters=[{"name": param, "index": [set_name], "values": {"1": 2, "2": 3}},
                    {"name": "c_rule", "value": 1}],
        variables=[{"name": variable, "index": [set_name], "upper": 10}],
        objective=f"sum({variable}[{index}] for {index} in {set_name})", sense="maximize",
        constraints=[{"name": constraint, "forall": [f"{index} in {set_name}"],
                      "expression": f"{variable}[{index}] <= {param}[{index}] + c_rule"},
                     {"name": constraint + " total",
                      "expression": f"1 <= sum({variable}[j] for j in {set_name}) <= 6"}])


def test_every_name_check_accepts_gives_a_script_that_runs(tmp_path):
    """Reproduction: a constraint named `return` gave `m.return = ...`, a SyntaxError. Any
    name `check` accepts, in any role, must give a valid script with the same answer (6)."""
    from nl2opt.formulation.validate import errors_only, validate

    paths = []
    for name in AWKWARD_NAMES:
        for role in ("set_name", "param", "variable", "index", "constraint"):
            try:
                model = _awkward_model(**{role: name})
            except ValueError:
                continue  # the schema refuses it
            if errors_only(validate(model, compile_check=False)):
                continue  # check refuses it, with a located message
            paths.append(tmp_path / f"script_{len(paths)}.py")
            paths[-1].write_text(emit_pyomo_script(model), encoding="utf-8")
    assert len(paths) >= len(AWKWARD_NAMES)  # every name is accepted at least somewhere
    done = subprocess.run([sys.executable, "-c", _RUN_ALL, *map(str, paths)], cwd=tmp_path,
                          check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [["OBJECTIVE = 6.0"]] * len(paths)


def test_descriptions_with_control_characters_or_quotes_give_a_valid_script(tmp_path):
    texts = ['a """ b', "ends with \\", 'x\n"""\nimport os', "nul \x00 byte", "lone \ud800",
             "\\N{bad}"]
    for text in texts:
        model = formulation(
            sets=[{"name": "I", "range": [1, 2], "description": text}],
            parameters=[{"name": "cap", "index": ["I"], "values": {"1": 2, "2": 3},
                         "description": text, "unit": text}],
            variables=[{"name": "x", "index": ["I"], "upper": 10, "description": text}],
            objective="sum(x[i] for i in I)", sense="maximize",
            constraints=[{"name": text, "forall": ["i in I"], "expression": "x[i] <= cap[i]",
                          "description": text}])
        model = model.model_copy(update={"name": text, "description": text})
        script = assert_same_answer(model, tmp_path)
        imports = [n for n in ast.parse(script).body if isinstance(n, ast.Import)]
        assert "\x00" not in script and [i.names[0].name for i in imports] == ["pyomo.environ"]
