"""Equivalence checking: LLM-free mapping on generated variants, verification, LLM path,
LP/MPS input, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from nl2opt.equivalence import (
    EQUIVALENT,
    NOT_EQUIVALENT,
    equivalent,
    from_formulation,
    generate_variants,
    map_from_expressions,
    read_model_file,
)
from nl2opt.equivalence.commands import register
from nl2opt.equivalence.maps import MappingError
from nl2opt.equivalence.solving import random_directions, sample_optima, solve
from nl2opt.equivalence.verify import verify_map
from nl2opt.formulation.model import load_formulation
from nl2opt.llm.scripted import ScriptedBackend

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Examples with an optimum, linear constraints and a solver HiGHS handles.
SUITE = ["bakery_lp.json", "transport_lp.json", "facility_location_milp.json",
         "project_selection_binary.json", "inventory_lp.json"]


def example(name: str):
    return load_formulation(EXAMPLES / name)


@pytest.fixture(scope="module")
def variants():
    return {name: generate_variants(example(name))[0] for name in SUITE}


@pytest.mark.parametrize("name", SUITE)
def test_llm_free_path_labels_every_generated_variant_correctly(variants, name):
    base = example(name)
    assert variants[name], f"no variants generated for {name}"
    for variant in variants[name]:
        report = equivalent(base, variant.model)
        expected = "equivalent" if variant.equivalent else "not_equivalent"
        assert report.verdict == expected, (name, variant.transform, report.explain())
        if variant.equivalent:
            assert report.mapping and "?" not in report.mapping.values()
        else:
            assert report.counterexample is not None


def test_every_transformation_type_is_covered_by_the_suite(variants):
    made = {v.transform for vs in variants.values() for v in vs}
    assert set(NOT_EQUIVALENT) <= made
    assert set(EQUIVALENT) - {"binary_expansion"} <= made


def test_binary_expansion_of_a_bounded_integer_is_found_equivalent():
    base = example("delivery_route_tsp.json")
    [variant], _ = generate_variants(base, only=("binary_expansion",))
    assert "order_bit" in {v.name for v in variant.formulation.variables}
    report = equivalent(base, variant.formulation)
    assert report.verdict == "equivalent", report.explain()
    # order[cafe] is rebuilt from that cafe's bits only.
    text = report.mapping["order['cafe_a']"]
    assert "order_bit['cafe_a'," in text and "cafe_b" not in text


def test_renaming_is_found_by_structure_and_the_certificate_uses_user_names():
    base = example("transport_lp.json")
    [variant], _ = generate_variants(base, only=("rename",))
    report = equivalent(base, variant.formulation)
    assert report.verdict == "equivalent"
    assert report.method == "wl-match"
    assert all(value.startswith("var_0[") for value in report.mapping.values())
    assert report.baselines["wl_graph"] is True


def test_baselines_are_fooled_where_expected():
    base = example("bakery_lp.json")
    scaled = generate_variants(base, only=("objective_scale_shift",))[0][0]
    report = equivalent(base, scaled.formulation)
    assert report.verdict == "equivalent"
    assert report.baselines["optimal_value"] is False  # 2.5 f + 7 has another value
    assert report.baselines["wl_graph"] is False


def test_verification_rejects_a_wrong_proposed_mapping_with_a_counterexample():
    base = example("bakery_lp.json")
    a, b = from_formulation(base), from_formulation(base)
    wrong = map_from_expressions({"x['bread']": "x['cake']", "x['cake']": "x['bread']"}, a, b)
    sa, sb = solve(a), solve(b)
    samples_a = sample_optima(a, sa, random_directions(a.num_cols, 3, 1))
    samples_b = sample_optima(b, sb, random_directions(b.num_cols, 3, 2))
    outcome = verify_map(wrong, a, b, sa, sb, samples_a, samples_b)
    assert not outcome.passed
    example_point = outcome.counterexample
    assert example_point["kind"] == "soundness"
    assert set(example_point["mapped_point"]) <= {"x['bread']", "x['cake']"}
    assert example_point["problems"]
    right = map_from_expressions({"x['bread']": "x[bread]", "x['cake']": "1 * x['cake'] + 0"},
                                 a, b)
    assert verify_map(right, a, b, sa, sb, samples_a, samples_b).passed


def test_mapping_expressions_are_parsed_safely_and_must_be_affine():
    a = from_formulation(example("bakery_lp.json"))
    with pytest.raises(MappingError, match="not affine"):
        map_from_expressions({"x['bread']": "x['cake'] * x['cake']"}, a, a)
    with pytest.raises(MappingError, match="not allowed"):
        map_from_expressions({"x['bread']": "__import__('os')"}, a, a)
    with pytest.raises(MappingError, match="not a variable"):
        map_from_expressions({"x['bread']": "z['bread'] + 1"}, a, a)
    with pytest.raises(MappingError, match="no variable"):
        map_from_expressions({"w": "x['bread']"}, a, a)
    with pytest.raises(MappingError, match="does not parse"):
        map_from_expressions({"x['bread']": "lambda: 1"}, a, a)


def _renamed_and_scaled(base):
    """A renamed variant with the objective scaled: the WL match still works, so use
    a variant the LLM-free path cannot map: variables renamed AND substituted."""
    data = base.to_dict()
    data["variables"][0]["name"] = "y"
    data["objective"]["expression"] = "sum(profit[p] * (2 * y[p] + 1) for p in P)"
    data["constraints"][0]["expression"] = \
        "sum(use[r, p] * (2 * y[p] + 1) for p in P) <= available[r]"
    data["variables"][0]["lower"] = -0.5
    return load_formulation(data)


def test_llm_path_with_scripted_proposals():
    base = example("bakery_lp.json")
    other = _renamed_and_scaled(base)
    assert equivalent(base, other).verdict != "equivalent"  # LLM-free cannot map it
    wrong = {"reasoning": "same names", "mapping": {"x['bread']": "y['bread']",
                                                    "x['cake']": "y['cake']"}}
    right = {"reasoning": "x = 2y + 1", "mapping": {"x['bread']": "2 * y['bread'] + 1",
                                                    "x['cake']": "2*y[cake] + 1"}}
    llm = ScriptedBackend([right])
    report = equivalent(base, other, llm=llm)
    assert report.verdict == "equivalent", report.explain()
    assert report.method == "llm"
    assert report.mapping["x['bread']"] == "2*y['bread'] + 1"
    request = llm.requests[0]
    assert request.prompt_id == "equivamap.v1" and request.json_schema is not None
    assert "y['cake']" in request.messages[-1].content
    refuted = equivalent(base, other, llm=ScriptedBackend([json.dumps(wrong)]))
    assert refuted.verdict == "not_equivalent"
    assert refuted.counterexample is not None


def test_llm_reply_that_is_not_a_mapping_gives_unknown_not_a_crash():
    base = example("bakery_lp.json")
    other = _renamed_and_scaled(base)
    report = equivalent(base, other, llm=ScriptedBackend(["I think they are the same."]))
    assert report.verdict in ("unknown", "not_equivalent")
    assert any(a.origin == "llm" and "mapping" in a.note for a in report.attempts)


def _write(model_formulation, path: Path) -> Path:
    from nl2opt.formulation.arrays import compile_arrays
    from nl2opt.solvers.highs_direct import build_highs

    highs = build_highs(compile_arrays(model_formulation))
    highs.writeModel(str(path))
    return path


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
def test_lp_and_mps_files_are_read_and_compared(tmp_path, suffix):
    base = example("facility_location_milp.json")
    path = _write(base, tmp_path / f"facility{suffix}")
    instance = read_model_file(path)
    reference = from_formulation(base)
    assert instance.num_cols == reference.num_cols
    assert instance.integer.sum() == reference.integer.sum()
    report = equivalent(path, base)
    assert report.verdict == "equivalent", report.explain()
    loosened = generate_variants(base, only=("drop_constraint",))[0][0]
    other = _write(loosened.formulation, tmp_path / f"dropped{suffix}")
    assert equivalent(path, other).verdict == "not_equivalent"


def test_cli_equiv_command(tmp_path):
    app = typer.Typer()
    register(app)

    @app.command()
    def noop() -> None:  # a second command keeps `equiv` a named subcommand
        pass

    base = EXAMPLES / "bakery_lp.json"
    variant = generate_variants(example("bakery_lp.json"), only=("slack",))[0][0]
    other = tmp_path / "slack.json"
    other.write_text(variant.formulation.to_json(), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["equiv", str(base), str(other), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["verdict"] == "equivalent"
    dropped = generate_variants(example("bakery_lp.json"), only=("drop_constraint",))[0][0]
    other.write_text(dropped.formulation.to_json(), encoding="utf-8")
    result = runner.invoke(app, ["equiv", str(base), str(other)])
    assert result.exit_code == 1 and "Counterexample" in result.output


def test_infeasible_versus_feasible_is_not_equivalent():
    base = example("bakery_lp.json")
    data = base.to_dict()
    data["constraints"].append({"name": "impossible", "expression": "x['bread'] >= 1000"})
    report = equivalent(base, load_formulation(data))
    assert report.verdict == "not_equivalent"
    assert report.counterexample["kind"] == "status"
    assert np.isfinite(report.objective_a)


BAKERY_PYOMO = '''
import pyomo.environ as pyo
model = pyo.ConcreteModel()
model.P = pyo.Set(initialize=["bread", "cake"])
model.y = pyo.Var(model.P, within=pyo.NonNegativeReals)
model.oven = pyo.Constraint(expr=model.y["bread"] + 2 * model.y["cake"] <= 40)
model.flour = pyo.Constraint(expr=5 * model.y["bread"] + 3 * model.y["cake"] <= 120)
model.profit = pyo.Objective(expr=30 * model.y["bread"] + 45 * model.y["cake"],
                             sense=pyo.maximize)
'''

BAKERY_GUROBI = '''
import gurobipy as gp
from gurobipy import GRB
model = gp.Model(env=gp.Env(params={"OutputFlag": 0}))
y = model.addVars(["bread", "cake"], name="y")
model.addConstr(y["bread"] + 2 * y["cake"] <= 40)
model.addConstr(5 * y["bread"] + 3 * y["cake"] <= 120 + 0)
model.setObjective(2 * (30 * y["bread"] + 45 * y["cake"]), GRB.MAXIMIZE)
model.write("model.mps")
'''


def test_pyomo_script_runs_in_the_sandbox_and_is_compared(tmp_path):
    script = tmp_path / "bakery_pyomo.py"
    script.write_text(BAKERY_PYOMO, encoding="utf-8")
    report = equivalent(EXAMPLES / "bakery_lp.json", script)
    assert report.verdict == "equivalent", report.explain()
    assert report.method == "wl-match"  # y(bread) matched to x['bread'] by structure


def test_gurobipy_script_runs_in_the_sandbox_and_is_compared(tmp_path):
    pytest.importorskip("gurobipy", reason="gurobipy is not installed (pip install gurobipy)")
    script = tmp_path / "bakery_gurobi.py"
    script.write_text(BAKERY_GUROBI, encoding="utf-8")
    report = equivalent(EXAMPLES / "bakery_lp.json", script)
    assert report.verdict == "equivalent", report.explain()
    assert report.baselines["optimal_value"] is False  # objective doubled
