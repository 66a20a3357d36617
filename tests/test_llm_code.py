"""LLM-written code mode: scripts run only in the sandbox and are cross-checked."""

import pytest

import nl2opt
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.pipeline.llm_code import extract_code, write_and_check
from nl2opt.pipeline.run import PipelineOptions, solve_text

from conftest import EXAMPLES

SCRIPT = '''Here is the script:
```python
import pyomo.environ as pyo

profit = {"bread": 30, "cake": PROFIT_CAKE}
use = {("oven_hours", "bread"): 1, ("oven_hours", "cake"): 2,
       ("flour_kg", "bread"): 5, ("flour_kg", "cake"): 3}
available = {"oven_hours": 40, "flour_kg": 120}
m = pyo.ConcreteModel()
m.x = pyo.Var(list(profit), domain=pyo.NonNegativeReals)
m.obj = pyo.Objective(expr=sum(profit[p] * m.x[p] for p in profit), sense=pyo.maximize)
m.cap = pyo.Constraint(list(available), rule=lambda m, r: sum(
    use[r, p] * m.x[p] for p in profit) <= available[r])
pyo.SolverFactory("appsi_highs").solve(m)
nl2opt_report(status="optimal", objective=float(pyo.value(m.obj)))
```
'''
RIGHT = SCRIPT.replace("PROFIT_CAKE", "45")
WRONG = SCRIPT.replace("PROFIT_CAKE", "50")


@pytest.fixture(scope="module")
def reference():
    return nl2opt.solve_formulation(EXAMPLES / "bakery_lp.json")


def fence(body: str) -> str:
    return f"```python\n{body}\n```"


def test_extract_code_takes_the_fenced_block():
    assert extract_code(RIGHT).startswith("import pyomo.environ as pyo")
    assert extract_code("x = 1") == "x = 1\n"


def test_a_correct_script_agrees(bakery, reference):
    check = write_and_check("bakery", bakery, reference, ScriptedBackend([RIGHT]), rounds=0)
    assert check.status == "ok" and check.agrees
    assert check.reported_objective == pytest.approx(7200 / 7)


def test_a_script_modelling_something_else_is_caught_and_repaired(bakery, reference):
    llm = ScriptedBackend([WRONG, RIGHT])
    check = write_and_check("bakery", bakery, reference, llm, rounds=1)
    assert check.agrees and check.attempts == 2
    assert "differs from the formulation's optimum" in llm.requests[1].messages[-1].content


@pytest.mark.parametrize("body, fragment", [
    ("import socket\nsocket.create_connection(('127.0.0.1', 80))", "network"),
    ("print(open('/etc/passwd').read())", "/etc/passwd"),
    ("import os\nos.fork()", "fork"),
    ("import subprocess\nsubprocess.run(['echo', 'hi'])", "process"),
])
def test_hostile_scripts_are_stopped_with_a_clear_message(bakery, reference, body, fragment):
    check = write_and_check("bakery", bakery, reference, ScriptedBackend([fence(body)]),
                            rounds=0)
    assert not check.agrees and check.status == "error"
    assert fragment in check.message


def test_endless_and_greedy_scripts_hit_their_limits(bakery, reference):
    from nl2opt.pipeline.llm_code import CodeLimits

    limits = CodeLimits(timeout=3, cpu_seconds=2, memory_mb=512)
    loop = write_and_check("b", bakery, reference, ScriptedBackend([fence("while True: pass")]),
                           rounds=0, limits=limits)
    assert loop.status in ("timeout", "cpu_limit") and not loop.agrees
    greedy = write_and_check("b", bakery, reference,
                             ScriptedBackend([fence("x = [0] * (10 ** 10)")]), rounds=0,
                             limits=limits)
    assert greedy.status == "memory_limit" and not greedy.agrees


def test_pipeline_in_llm_code_mode(bakery_dict):
    answer = {"reasoning": "r", "formulation": bakery_dict}
    verdict = {"requirements": [], "findings": []}  # the semantic review comes first
    report = solve_text("bakery", ScriptedBackend([answer, verdict, RIGHT]),
                        PipelineOptions(code_mode="llm"))
    assert report.ok and report.code_check.agrees
    assert report.code.startswith("import pyomo.environ")


def test_published_style_gurobipy_code_is_accepted(reference):
    pytest.importorskip("gurobipy", reason="gurobipy (extra nl2opt[gurobi]) is not installed")
    from nl2opt.pipeline.llm_code import run_and_compare

    code = """
import gurobipy as gp
from gurobipy import GRB
m = gp.Model("bakery")
m.Params.OutputFlag = 0
bread = m.addVar(name="bread")
cake = m.addVar(name="cake")
m.setObjective(30 * bread + 45 * cake, GRB.MAXIMIZE)
m.addConstr(bread + 2 * cake <= 40)
m.addConstr(5 * bread + 3 * cake <= 120)
m.optimize()
print("Optimal objective", m.ObjVal)
"""
    check = run_and_compare(code, reference)
    assert check.status == "ok" and check.agrees, check.message


def test_pyomo_script_without_report_is_read_from_its_model(reference):
    from nl2opt.pipeline.llm_code import run_and_compare

    code = extract_code(RIGHT).replace(
        'nl2opt_report(status="optimal", objective=float(pyo.value(m.obj)))',
        'print("objective", pyo.value(m.obj))')
    check = run_and_compare(code, reference)
    assert check.agrees and check.reported_objective == pytest.approx(7200 / 7)
