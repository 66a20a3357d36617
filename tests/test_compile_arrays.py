"""The vectorized compiler: each construct checked against hand-written arrays."""

import numpy as np
import pytest

from nl2opt.errors import CompileError, DataError
from nl2opt.formulation.arrays import compile_arrays, format_label
from nl2opt.formulation.evaluate import NonlinearTerm

from helpers import formulation

T3 = {"name": "T", "range": [1, 3]}
P2 = {"name": "P", "elements": ["a", "b"]}


def dense(model):
    return model.matrix.toarray()


def test_forall_where_and_index_arithmetic():
    f = formulation([{"name": "s", "index": ["T"]}, {"name": "b", "index": ["T"]}],
                    "sum(s[t] for t in T)",
                    [{"name": "balance", "forall": ["t in T"], "where": "t > 1",
                      "expression": "s[t] == s[t - 1] + b[t]"}], [T3])
    model = compile_arrays(f)
    # Columns: s[1..3], b[1..3]; rows for t = 2, 3: s[t] - s[t-1] - b[t] == 0.
    assert dense(model).tolist() == [[-1, 1, 0, 0, -1, 0], [0, -1, 1, 0, 0, -1]]
    assert model.row_lower.tolist() == [0, 0] and model.row_upper.tolist() == [0, 0]
    assert model.row_label(1) == ("balance", (3,))
    assert format_label(*model.column_label(4)) == "b[2]"


def test_sum_with_condition_and_two_generators():
    f = formulation([{"name": "x", "index": ["P", "P"]}],
                    "sum(x[i, j] for i in P for j in P if i != j)", [], [P2])
    model = compile_arrays(f)
    assert model.objective.tolist() == [0, 1, 1, 0]


def test_ranged_constraint_with_constant_ends_is_one_row():
    f = formulation([{"name": "x"}, {"name": "y"}], "x",
                    ["2 <= x + 2 * y - 1 <= 7", "10 >= x >= 1"])
    model = compile_arrays(f)
    assert dense(model).tolist() == [[1, 2], [1, 0]]
    assert model.row_lower.tolist() == [3, 1] and model.row_upper.tolist() == [8, 10]


def test_constants_move_to_the_right_hand_side():
    f = formulation([{"name": "x"}], "x", ["3 * x + 4 >= 2 * x - 5 + 1"])
    model = compile_arrays(f)
    assert dense(model).tolist() == [[1]]
    assert model.row_lower.tolist() == [-8] and np.isinf(model.row_upper[0])


def test_parameters_functions_and_len():
    params = [{"name": "w", "index": ["P"], "values": {"a": 4, "b": 9}}]
    f = formulation([{"name": "x", "index": ["P"]}],
                    "sum(sqrt(w[p]) / len(P) * x[p] + max(w[p], 5) for p in P)", [],
                    [P2], params)
    model = compile_arrays(f)
    assert model.objective.tolist() == [1.0, 1.5]
    assert model.objective_offset == 5 + 9


def test_quadratic_objective_collects_upper_triangle():
    f = formulation([{"name": "x", "lower": None}, {"name": "y", "lower": None}],
                    "(x - 1) ** 2 + x * y + 3 * y * x")
    model = compile_arrays(f)
    q = model.quadratic.toarray()
    assert q.tolist() == [[1, 4], [0, 0]]
    assert model.objective.tolist() == [-2, 0] and model.objective_offset == 1


def test_string_literal_index_and_bounds_from_parameters():
    params = [{"name": "cap", "index": ["P"], "values": {"a": 3, "b": 5}}]
    f = formulation([{"name": "x", "index": ["P"], "upper": "cap[P] * 2", "lower": "cap"}],
                    "x['b']", [], [P2], params)
    model = compile_arrays(f)
    assert model.objective.tolist() == [0, 1]
    assert model.col_upper.tolist() == [6, 10] and model.col_lower.tolist() == [3, 5]


def test_binary_and_integer_columns():
    f = formulation([{"name": "y", "type": "binary"}, {"name": "n", "type": "integer",
                                                       "upper": 4}], "y + n")
    model = compile_arrays(f)
    assert model.integrality.tolist() == [1, 1]
    assert model.col_upper.tolist() == [1, 4]


def test_duplicate_terms_are_merged():
    f = formulation([{"name": "x"}], "x", ["x + x + 2 * x <= 8"])
    model = compile_arrays(f)
    assert model.matrix.nnz == 1 and dense(model).tolist() == [[4]]


def test_index_leaving_its_set_names_the_tuple():
    f = formulation([{"name": "s", "index": ["T"]}], "s[1]",
                    [{"name": "bal", "forall": ["t in T"], "expression": "s[t] >= s[t + 1]"}],
                    [T3])
    with pytest.raises(CompileError, match=r"t \+ 1.* = 4 is not an element of set 'T' "
                                           r"\(when t = 3\)"):
        compile_arrays(f)


def test_missing_parameter_value_is_reported_when_used():
    params = [{"name": "w", "index": ["P"], "values": {"a": 1}}]
    f = formulation([{"name": "x", "index": ["P"]}], "sum(w[p] * x[p] for p in P)", [],
                    [P2], params)
    with pytest.raises(CompileError, match=r"no value for \('b',\)"):
        compile_arrays(f)


def test_division_by_zero_and_nonlinear_terms():
    with pytest.raises(CompileError, match="division by zero"):
        compile_arrays(formulation([{"name": "x"}], "x / (2 - 2)"))
    with pytest.raises(NonlinearTerm):
        compile_arrays(formulation([{"name": "x"}], "x", ["x * x <= 4"]))
    with pytest.raises(NonlinearTerm):
        compile_arrays(formulation([{"name": "x"}], "exp(x)"))


def test_csv_parameter_and_set(tmp_path):
    (tmp_path / "d.csv").write_text("city,demand\nrome,5\noslo,7\n")
    f = formulation([{"name": "x", "index": ["C"]}], "sum(demand[c] * x[c] for c in C)", [],
                    [{"name": "C", "csv": {"path": "d.csv", "value_column": "city"}}],
                    [{"name": "demand", "index": ["C"],
                      "csv": {"path": "d.csv", "index_columns": ["city"],
                              "value_column": "demand"}}]).with_data_dir(tmp_path)
    model = compile_arrays(f)
    assert model.objective.tolist() == [5, 7]
    with pytest.raises(DataError, match="data folder .*nowhere.* does not exist"):
        compile_arrays(f.with_data_dir(tmp_path / "nowhere"))


def test_table_and_default_values():
    params = [{"name": "d", "index": ["P", "T"], "table": [["a", 2, 5.0], ["b", 3, 1.5]],
               "default": 0}]
    f = formulation([{"name": "x", "index": ["P", "T"]}],
                    "sum(d[p, t] * x[p, t] for p in P for t in T)", [], [P2, T3], params)
    assert compile_arrays(f).objective.tolist() == [0, 5, 0, 0, 0, 1.5]
