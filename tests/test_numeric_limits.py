"""Numbers at the edge of what the solvers take, and how nl2opt words them. Each test is
the reproduction of a finding (an unexplained solver error, a traceback, a wrong
verdict), kept so it stays fixed."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from nl2opt.cli import app
from nl2opt.errors import CompileError, FormulationError
from nl2opt.formulation.model import load_formulation
from nl2opt.solvers.solve import solve

runner = CliRunner()


def with_value(bakery_dict, name: str, key: tuple, value: float):
    """The bakery with parameter `name` at `key` set to `value`."""
    (param,) = [p for p in bakery_dict["parameters"] if p["name"] == name]
    values = param["values"]
    for part in key[:-1]:
        values = values[part]
    values[key[-1]] = value
    return load_formulation(bakery_dict)


def shown(value: float) -> str:
    """`value` as the messages print it, as a regular expression."""
    return re.escape(f"{value:g}")


USE = ("use", ("oven_hours", "bread"))
PROFIT = ("profit", ("bread",))


def test_the_highs_limit_is_highs_own_option():
    from nl2opt.solvers.highs_direct import new_highs

    assert new_highs().getOptionValue("large_matrix_value")[1] == 1e15


@pytest.mark.parametrize("solver", ["highs", "pyomo-highs"])
@pytest.mark.parametrize("value", [1e15, 1e16, -1e19])
def test_a_constraint_coefficient_highs_refuses_is_located(bakery_dict, value, solver):
    """HiGHS refuses a coefficient of 1e15 or more in passModel; nl2opt said 'beyond
    1e20', which the value was not, and named neither the entry nor the limit (and
    through Pyomo, HiGHS went on without it and called the bakery unbounded)."""
    formulation = with_value(bakery_dict, *USE, value)
    with pytest.raises(CompileError, match=(
            r"constraint 'capacity': in capacity\['oven_hours'\] the coefficient of "
            rf"x\['bread'\] is {shown(value)}.*HiGHS refuses constraint coefficients of 1e\+15 or "
            r"more \(its option large_matrix_value.*--solver scip\); rescale")):
        solve(formulation, solver=solver)


def test_just_below_the_highs_limit_solves(bakery_dict):
    assert solve(with_value(bakery_dict, *USE, 9.99e14), solver="highs").objective == \
        pytest.approx(900)


def test_scip_solves_a_coefficient_highs_refuses(bakery_dict):
    result = solve(with_value(bakery_dict, *USE, 1e16), solver="scip")
    assert result.objective == pytest.approx(900)


@pytest.mark.parametrize("solver", ["highs", "scip"])
def test_a_coefficient_read_as_infinite_is_a_validation_error(bakery_dict, solver):
    """SCIP stopped with a traceback ('SCIP: error in input data!') on 1e20."""
    formulation = with_value(bakery_dict, *USE, 1e20)
    with pytest.raises(FormulationError, match=r"constraint 'capacity'.*coefficient of "
                       r"x\['bread'\] is 1e\+20.*HiGHS and SCIP read 1e20 or more as infinite"):
        solve(formulation, solver=solver)


@pytest.mark.parametrize("solver", ["highs", "scip"])
@pytest.mark.parametrize("value", [1e19, -1e20])
def test_a_cost_the_solvers_fail_on_is_an_error_before_solving(bakery_dict, solver, value):
    """A profit of 1e19 ended in HiGHS's unexplained 'Solve error', and SCIP called the
    model unbounded; a profit of 1e20 ended in SCIP's traceback."""
    formulation = with_value(bakery_dict, *PROFIT, value)
    with pytest.raises(FormulationError, match=(
            rf"objective.*coefficient of x\['bread'\] is {shown(value)}, too large.*1e20 or "
            r"more as infinite \(HiGHS's simplex fails, SCIP calls the model unbounded\); "
            r"give a value below 1e\+19 or rescale")):
        solve(formulation, solver=solver)


def test_the_cli_words_both_limits(bakery_dict, tmp_path):
    for name, key, value in [(*USE, 1e16), (*PROFIT, 1e19)]:
        model = json.loads(json.dumps(bakery_dict))
        with_value(model, name, key, value)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(model))
        result = runner.invoke(app, ["solve", str(path)])
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), f"traceback: {result.exception!r}"
        assert result.exit_code != 0
        text = " ".join(result.output.split())
        assert f"is {value:g}" in text and "rescale" in text, text


@pytest.mark.parametrize(("name", "key", "value"), [(*USE, 1e16), (*PROFIT, 1e19)])
def test_a_what_if_to_a_value_too_large_says_which_and_why(bakery, name, key, value):
    from nl2opt.analysis.edits import EditError
    from nl2opt.analysis.whatif import what_if

    with pytest.raises(EditError, match=rf"coefficient of x\['bread'\] is {shown(value)}.*"
                       r"rescale"):
        what_if(bakery, name, key, value)


@pytest.mark.parametrize(("name", "key", "value"), [(*USE, 1e16), (*PROFIT, 1e19)])
def test_repair_feedback_names_the_value_and_the_limit(bakery_dict, name, key, value):
    from nl2opt.pipeline.stages import check_and_solve

    outcome = check_and_solve(with_value(bakery_dict, name, key, value))
    assert outcome.failure in ("compile_error", "invalid_formulation")
    (problem,) = outcome.problems
    assert f"coefficient of x['bread'] is {value:g}" in problem and "rescale" in problem


@pytest.mark.parametrize(("product", "profit", "best"), [
    ("cake", 2e9, 4e10), ("cake", 7e12, 1.4e14), ("bread", 5e10, 1.2e12),
    ("cake", 3e18, 6e19)])
def test_highs_solves_large_costs_its_dual_simplex_fails_on(bakery_dict, product, profit, best):
    """HiGHS's dual simplex stopped with 'Solve error' ('ratio test failed due to
    excessive dual values') on the bakery with a cake profit of 2e9; run again with its
    objective scaled down (HiGHS's user_objective_scale), it answers."""
    result = solve(with_value(bakery_dict, "profit", (product,), profit), solver="highs")
    assert result.termination.value == "optimal", result.message
    assert result.objective == pytest.approx(best)
    if product == "cake" and profit == 2e9:
        oven = result.constraints["capacity"].rows[0]
        assert oven["dual"] == pytest.approx(1e9)  # in the user's units, not scaled ones


# -- how large and tiny numbers read -------------------------------------------------------

@pytest.mark.parametrize(("value", "signed", "text"), [
    (1e200, False, "1e200"), (-1e200, False, "-1e200"), (2.4e16, True, "+2.4e16"),
    (1e15, False, "1e15"), (1.23456e17, False, "1.235e17"), (3e-7, False, "3e-7"),
    (-1.23456e-5, False, "-1.235e-5"),
    # ordinary magnitudes keep their formats
    (999_999_999_999_999.0, False, "999,999,999,999,999"), (1e14, False, "100,000,000,000,000"),
    (0.0001234, False, "0.0001234"), (0.5, False, "0.5"), (1e-12, False, "0")])
def test_large_and_tiny_numbers_read_in_scientific_notation(value, signed, text):
    """A what-if to a profit of 1e200 printed a 201-digit number."""
    from nl2opt.formulation.wording import format_number

    assert format_number(value, signed) == text


def test_money_and_units_keep_scientific_notation():
    from nl2opt.formulation.wording import with_unit

    assert with_unit(2.4e16, "$") == "$2.4e16" and with_unit(-1e200, "$") == "-$1e200"
    assert with_unit(1e18, "$/batch") == "1e18 $/batch"
    assert with_unit(1028.5, "$") == "$1,028.50"


def test_a_what_if_to_a_huge_value_reads(bakery):
    from nl2opt.analysis.whatif import what_if

    comparison = what_if(bakery, "profit", ("bread",), 1e18)
    assert "30 $/batch → 1e18 $/batch" in comparison.question
    assert "$2.4e19" in " ".join(comparison.sentences)


# -- CSV keys in the emitted Pyomo script ----------------------------------------------------

@pytest.mark.parametrize(("elements", "keys"), [
    (["1", 1], ["01", "1"]), (["1", 1], ["+1", "1"]), (["7", 7], ["0_7", "07", "7"]),
    (["1.5", "1.50", "1e0", 1], ["1.5", "1.50", "1e0", "1"]), (["1.0", 1], ["1", "1.0"]),
    ([1, "01"], ["001", "01"])])
def test_the_pyomo_script_fills_the_elements_nl2opt_fills(tmp_path, elements, keys):
    """With the elements '1' (text) and 1 (a number), nl2opt reads a key '01' as the
    number 1 and fills it; the emitted script filled the text '1' instead (objective 10
    against nl2opt's 11). Float-looking text ('1.50', '1e0') names itself in both."""
    from helpers import formulation
    from test_pyomo_code import assert_same_answer

    rows = "".join(f"{key},{10 ** k}\n" for k, key in enumerate(keys))
    (tmp_path / "p.csv").write_text("k,v\n" + rows)
    model = formulation(
        sets=[{"name": "S", "elements": elements}],
        parameters=[{"name": "p", "index": ["S"], "default": 0, "csv": {
            "path": "p.csv", "index_columns": ["k"], "value_column": "v"}}],
        variables=[{"name": "x", "index": ["S"], "upper": 1}],
        objective="sum(p[s] * x[s] for s in S)", sense="maximize").with_data_dir(tmp_path)
    assert_same_answer(model, tmp_path)


@pytest.mark.parametrize("elements", [["1", 1], [1, "1"], ["7", 7, "07"], [7, "07", "7"]])
def test_a_set_of_a_number_and_its_text_is_valid_in_either_order(elements):
    """['1', 1] was accepted and [1, '1'] refused as 'listed twice' (the number's text
    alias was taken for the text element): a set's validity and what its keys name must
    not depend on the order of its elements. A key names the element whose text it is."""
    from nl2opt.formulation.data import make_set

    data = make_set("S", elements)
    for position, element in enumerate(elements):
        assert data.positions[element] == position
    for element in elements:
        if isinstance(element, int) and str(element) not in elements:
            assert data.positions[str(element)] == elements.index(element)
    with pytest.raises(Exception, match="listed twice"):
        make_set("S", [*elements, elements[0]])


@pytest.mark.parametrize("elements", [["1", 1], [1, "1"]])
def test_the_pyomo_script_agrees_for_a_number_and_its_text_in_either_order(tmp_path, elements):
    test_the_pyomo_script_fills_the_elements_nl2opt_fills(tmp_path, elements, ["01", "1"])
