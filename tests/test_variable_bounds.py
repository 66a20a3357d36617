"""Bounds that depend on the variable's index read the same in validation, the array
compiler, the Pyomo builder and the emitted Pyomo code.

Reproductions: `validate` refused `"upper": "cap"` for x over P (documented as allowed,
and accepted by the compilers), and for x over (N, N) the compilers read such a bound on
the diagonal, cap[n, n], for every x[i, j]."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
from helpers import formulation
from test_pyomo_code import assert_same_answer

from nl2opt.errors import CompileError
from nl2opt.formulation.arrays import compile_arrays
from nl2opt.formulation.validate import errors_only, validate
from nl2opt.solvers.pyomo_model import build_pyomo_model

CAP = {"a": 3, "b": 5}
GRID = {"1": {"1": 1, "2": 2}, "2": {"1": 3, "2": 4}}  # cap[i, j]


def over_p(upper):
    return formulation(
        sets=[{"name": "P", "elements": ["a", "b"]}],
        parameters=[{"name": "cap", "index": ["P"], "values": CAP}],
        variables=[{"name": "x", "index": ["P"], "upper": upper}],
        objective="sum(x[p] for p in P)", sense="maximize")


def over_nn(upper, lower=0):
    return formulation(
        sets=[{"name": "N", "range": [1, 2]}],
        parameters=[{"name": "cap", "index": ["N", "N"], "values": GRID},
                    {"name": "floor", "index": ["N"], "values": {"1": 0, "2": 1}}],
        variables=[{"name": "x", "index": ["N", "N"], "lower": lower, "upper": upper}],
        objective="sum(x[i, j] for i in N for j in N)", sense="maximize")


def pyomo_uppers(model) -> list[float]:
    build = build_pyomo_model(model)
    return [build.model.x[key].ub for key in sorted(build.model.x)]


@pytest.mark.parametrize("upper", ["cap", "cap[P]", "cap[P] + 0"])
def test_a_bound_over_the_variables_own_set_is_accepted_everywhere(upper, tmp_path):
    model = over_p(upper)
    assert not errors_only(validate(model)), validate(model)
    assert compile_arrays(model).col_upper.tolist() == [3.0, 5.0]
    assert pyomo_uppers(model) == [3.0, 5.0]
    assert_same_answer(model, tmp_path)


def test_a_bare_parameter_over_a_repeated_set_applies_position_by_position(tmp_path):
    model = over_nn("cap")
    assert not errors_only(validate(model)), validate(model)
    arrays = compile_arrays(model)
    # Columns in order x[1,1], x[1,2], x[2,1], x[2,2]: cap[i, j], not the diagonal.
    assert arrays.col_upper.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert pyomo_uppers(model) == [1.0, 2.0, 3.0, 4.0]
    script = assert_same_answer(model, tmp_path)
    assert "return (0, m.cap[n_0, n_1])" in script


@pytest.mark.parametrize("upper", ["cap[N, N]", "floor[N] + 2"])
def test_a_set_name_over_a_repeated_set_is_refused_with_what_to_write(upper):
    model = over_nn(upper)
    issues = errors_only(validate(model))
    assert [i.code for i in issues] == ["ambiguous-bound"], issues
    assert issues[0].element == "variable 'x' (upper bound)"
    message = issues[0].message
    assert "(N, N)" in message and "which position" in message and "constraint" in message
    with pytest.raises(CompileError, match="which position"):
        compile_arrays(model)
    with pytest.raises(CompileError, match="which position"):
        build_pyomo_model(model)


def test_a_bare_parameter_over_other_sets_is_refused_with_what_to_write():
    model = over_nn("floor")
    issues = errors_only(validate(model))
    assert [i.code for i in issues] == ["missing-index"], issues
    assert "floor" in issues[0].message and "(N, N)" in issues[0].message
    for compile_ in (compile_arrays, build_pyomo_model):
        with pytest.raises(CompileError, match="floor"):
            compile_(model)


def test_bounds_not_naming_the_index_are_fine_over_a_repeated_set(tmp_path):
    model = over_nn("2 * 3", lower="-1")
    assert not errors_only(validate(model))
    arrays = compile_arrays(model)
    assert np.all(arrays.col_upper == 6.0) and np.all(arrays.col_lower == -1.0)
    assert pyo.value(build_pyomo_model(model).model.x[1, 2].ub) == 6.0
    script = assert_same_answer(model, tmp_path)  # the bounds function takes both indices
    assert "def x_bounds(m, n_0, n_1):\n    return (-1, 2 * 3)" in script
