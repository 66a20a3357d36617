"""Hostile and malformed inputs at the command line (issue 9, items 5, 6 and 10): each
ends in nl2opt's own worded error and exit code, never a traceback."""

import ast
import json

import pytest
from typer.testing import CliRunner

from nl2opt.cli import app

runner = CliRunner()

BASE = {"sets": [{"name": "I", "elements": [1, 2]}],
        "variables": [{"name": "x", "index": ["I"]}],
        "objective": {"sense": "minimize", "expression": "sum(x[i] for i in I)"}}


def write(tmp_path, changes: dict, name: str = "model.json"):
    path = tmp_path / name
    path.write_text(json.dumps({**BASE, **changes}))
    return path


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), f"traceback: {result.exception!r}"
    return result


# -- overflow (item 5) --------------------------------------------------------------------------
@pytest.mark.parametrize("changes, fragment", [
    ({"sets": [{"name": "I", "range": [9223372036854775800, 9223372036854775810]}]},
     "the integer 9223372036854775800 is too large"),
    ({"sets": [{"name": "I", "elements": [1, 99999999999999999999999]}]},
     "the integer 99999999999999999999999 is too large"),
    ({"constraints": [{"name": "c", "forall": ["i in I"],
                       "expression": "x[i + 9223372036854775807] >= 1"}]},
     "= 9.22337e+18 is too large to be a set element"),
])
def test_integers_beyond_exact_range_are_located_errors(tmp_path, changes, fragment):
    result = run("check", write(tmp_path, changes))
    assert result.exit_code == 1 and fragment in result.output
    assert "-9223372036854775808" not in result.output  # no wrapped int64


@pytest.mark.parametrize("changes, location", [
    ({"parameters": [{"name": "p", "value": int("9" * 400)}]}, "parameters.0.value"),
    ({"variables": [{"name": "x", "index": ["I"], "upper": int("9" * 400)}]},
     "variables.0.upper"),
])
def test_a_400_digit_integer_is_refused_where_it_stands(tmp_path, changes, location):
    for command in ("check", "solve", "code"):
        result = run(command, write(tmp_path, changes))
        assert result.exit_code == 2, result.output
        assert location in result.output and "400 digits is too large" in result.output


def test_a_400_digit_table_value_is_a_located_data_error(tmp_path):
    # Table cells may be elements or numbers, so the data resolver refuses it.
    path = write(tmp_path, {"parameters": [{"name": "p", "index": ["I"],
                                            "table": [[1, int("9" * 400)]]}]})
    result = run("check", path)
    assert result.exit_code == 1
    assert "parameter 'p'[1]: 99999999999999999999" in result.output
    assert "(340 more characters)" in result.output  # quoted short, not all 400 digits
    assert "rescale the data" in result.output


# -- item 10: BOM, files that are not formulations ----------------------------------------------
def test_a_json_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(BASE), encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    result = run("check", path)
    assert result.exit_code == 0 and "ok: LP" in result.output


def test_a_flat_70_term_sum_is_accepted_and_solved(tmp_path):
    objective = " + ".join(f"x[{1 + k % 2}]" for k in range(70))
    path = write(tmp_path, {"objective": {"sense": "minimize", "expression": objective},
                            "constraints": [{"name": "c", "expression": "x[1] + x[2] >= 1"}]})
    assert run("check", path).exit_code == 0
    result = run("solve", path, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["objective"] == 35


def test_deep_json_and_directories_are_clear_errors(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = run("check", deep)
    assert result.exit_code == 2 and "recursion limit" in result.output
    result = run("check", tmp_path)
    assert result.exit_code == 2 and "is not a regular file" in result.output


# -- `nl2opt code` on formulations `check` rejects (item 5) ------------------------------------
@pytest.mark.parametrize("changes, fragment", [
    ({"objective": {"sense": "minimize", "expression": "sum(x[j] for j in J)"}},
     "'J' in 'j in J' is not a declared set"),
    ({"variables": [{"name": "x", "index": ["J"]}]}, "undeclared set"),
    ({"parameters": [{"name": "unit cost", "value": 3}]}, "names must be identifiers"),
    ({"parameters": [{"name": "__class__", "value": 3}]}, "reserved for Python internals"),
    ({"parameters": [{"name": "lambda", "value": 3}]}, "'lambda' is a reserved word"),
    ({"parameters": [{"name": "x", "value": 3}]}, "also declared as a parameter"),
    ({"constraints": [{"name": "c", "expression": "x[1] >= 1"},
                      {"name": "c", "expression": "x[2] >= 1"}]},
     "2 constraints share this name"),
])
def test_code_refuses_what_check_refuses_with_the_same_issues(tmp_path, changes, fragment):
    path = write(tmp_path, changes)
    checked = run("check", path)
    result = run("code", path)
    assert checked.exit_code == 1 and result.exit_code == 1
    assert fragment in checked.output and fragment in result.output
    assert "no code written" in result.output and "import pyomo" not in result.output


def test_code_turns_free_text_constraint_names_into_python(tmp_path):
    path = write(tmp_path, {"constraints": [
        {"name": "my cons", "expression": "x[1] >= 1"},
        {"name": "class", "expression": "x[2] >= 2"},
        {"name": "x", "expression": "x[2] >= 3"},  # same name as the variable
        {"name": "2 for all", "expression": "x[1] + x[2] >= 3"}]})
    assert run("check", path).exit_code == 0
    result = run("code", path)
    assert result.exit_code == 0
    tree = ast.parse(result.stdout)  # valid Python
    assigned = {target.attr for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Attribute)}
    assert {"x", "my_cons", "class_", "x_", "_2_for_all"} <= assigned


# -- item 6: oversized models ------------------------------------------------------------------
def test_an_oversized_model_is_refused_with_its_estimate(tmp_path):
    path = write(tmp_path, {"sets": [{"name": "I", "range": [1, 20_000]}],
                            "objective": {"sense": "minimize", "expression":
                                          "sum(x[i] for i in I) * sum(x[j] for j in I)"}})
    for command, code in (("check", 1), ("solve", 2), ("code", 1)):
        result = run(command, path)
        assert result.exit_code == code, (command, result.output)
        assert "400,000,000 quadratic terms" in result.output
        assert "NL2OPT_MAX_TERMS" in result.output


# -- item 10: an empty .lp file in `nl2opt equiv` -----------------------------------------------
def test_equiv_refuses_an_empty_lp_file(tmp_path):
    empty = tmp_path / "empty.lp"
    empty.write_text("")
    other = tmp_path / "tiny.lp"
    other.write_text("Minimize\n obj: x\nSubject To\n c: x >= 1\nEnd\n")
    result = run("equiv", empty, other)
    assert result.exit_code == 3
    assert "holds no variables" in result.output and "empty.lp" in result.output


def test_a_one_line_statement_longer_than_a_file_name_is_a_statement():
    """Found with --embeddings tests: `Path.is_file()` raised ENAMETOOLONG for a one-line
    statement of more than 255 characters instead of treating it as text."""
    statement = "A bakery makes bread and cake. " * 10 + "Maximize profit."
    result = run("formulate", statement, "--llm", "demo")
    assert "File name too long" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
