"""Bulk placement of parameter values gives what the per-entry loop gives: the same
array, or the same located error, for nested values, tables and CSV files."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nl2opt.errors import DataError
from nl2opt.formulation import bulk, data
from nl2opt.formulation.model import Parameter, SetDef

TEXT_SET = ["a", "b", "c", " d", "12", "x_1"]
INT_SET = [1, 2, 3, 10, 12]
ODD_KEYS = ["zz", " a", "a ", "03", "+3", "3.0", "1_0", "-1", "", "12", "١٢", 12, 3, 0, 99,
            2**60, -(2**70), 1.0, 2.5, True]
ODD_VALUES = [0, -3, 2.5, 1e300, 1e308 * 10, math.nan, math.inf, -math.inf, True, None,
              "4", " 5 ", "6.5", "1e3", "nan", "inf", "x", 10**400, "1_000", "", [1]]


def _set(kind: str):
    if kind == "range":
        return data.resolve_set(SetDef(name=kind, range=[1, 6]), None)
    return data.make_set(kind, TEXT_SET if kind == "text" else INT_SET)


def _outcome(param: Parameter, sets: dict, data_dir: Path | None, bulk_path: bool):
    original = data._fill_in_bulk
    try:
        if not bulk_path:
            data._fill_in_bulk = lambda *args: False
        return data.resolve_parameter(param, sets, data_dir).values
    except DataError as error:
        return str(error)
    finally:
        data._fill_in_bulk = original


def _same(first, second) -> bool:
    if isinstance(first, str) or isinstance(second, str):
        return first == second
    return first.shape == second.shape and np.array_equal(first, second, equal_nan=True)


keys = st.one_of(st.sampled_from(TEXT_SET + INT_SET + ["1", "2", "10"]), st.sampled_from(ODD_KEYS))
numbers = st.one_of(st.integers(-50, 50), st.floats(-1e6, 1e6, allow_nan=False),
                    st.sampled_from(ODD_VALUES))
set_kinds = st.sampled_from(["text", "int", "range"])


@settings(max_examples=300, deadline=None)
@given(kinds=st.lists(set_kinds, min_size=1, max_size=2),
       rows=st.lists(st.tuples(keys, keys, numbers), max_size=12),
       default=st.one_of(st.none(), st.just(0.5)))
def test_tables_place_like_the_per_entry_loop(kinds, rows, default):
    sets = {f"S{k}": _set(kind) for k, kind in enumerate(kinds)}
    table = [list(row[:len(kinds)]) + [row[2]] for row in rows]
    try:
        param = Parameter(name="p", index=list(sets), table=table, default=default)
    except ValueError:
        return  # the schema refuses it before any resolving
    assert _same(_outcome(param, sets, None, True), _outcome(param, sets, None, False))


@settings(max_examples=200, deadline=None)
@given(kinds=st.lists(set_kinds, min_size=1, max_size=2),
       entries=st.lists(st.tuples(keys, keys, numbers), max_size=10))
def test_nested_values_place_like_the_per_entry_loop(kinds, entries):
    sets = {f"S{k}": _set(kind) for k, kind in enumerate(kinds)}
    nested: dict = {}
    for first, second, value in entries:
        if len(kinds) == 1:
            nested[str(first)] = value
        else:
            inner = nested.setdefault(str(first), {})
            if isinstance(inner, dict):
                inner[str(second)] = value
    try:
        param = Parameter(name="p", index=list(sets), values=nested)
    except ValueError:
        return
    assert _same(_outcome(param, sets, None, True), _outcome(param, sets, None, False))


cells = st.one_of(keys.map(str), st.sampled_from([" 1 ", "0012", "+2", "a,b", '"c"']))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(set_kinds, min_size=1, max_size=2),
       rows=st.lists(st.tuples(cells, cells, numbers.map(str)), max_size=10),
       short_line=st.booleans(), blank_lines=st.booleans())
def test_csv_files_place_like_the_per_entry_loop(kinds, rows, short_line, blank_lines):
    sets = {f"S{k}": _set(kind) for k, kind in enumerate(kinds)}
    columns = [f"k{k}" for k in range(len(kinds))]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*columns, "value"])
    for row in rows:
        writer.writerow([*row[:len(kinds)], row[2]])
        if blank_lines:
            out.write("\r\n")
    if short_line:
        writer.writerow(["a"])
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "p.csv").write_text(out.getvalue(), encoding="utf-8")
        param = Parameter(name="p", index=list(sets), csv={
            "path": "p.csv", "index_columns": columns, "value_column": "value"})
        bulk_result = _outcome(param, sets, Path(folder), True)
        loop_result = _outcome(param, sets, Path(folder), False)
    assert _same(bulk_result, loop_result)


@pytest.mark.parametrize("text", ["12", " 12 ", "+12", "-0", "0012", "1_2", "1__2", "_1",
                                  "١٢", "²", "p12", "", " ", "-", "+-1", "1.0", "1e3"])
def test_element_of_reads_cells_as_int_does(text):
    try:
        expected = int(text.strip())
    except ValueError:
        expected = text.strip()
    assert bulk.element_of(text) == expected and type(bulk.element_of(text)) is type(expected)


def test_later_rows_win_as_in_the_loop():
    sets = {"S": data.make_set("S", ["a", "b"])}
    param = Parameter(name="p", index=["S"], table=[["a", 1], ["b", 2], ["a", 3]])
    assert data.resolve_parameter(param, sets, None).values.tolist() == [3.0, 2.0]


def test_csv_set_elements_in_bulk_match_row_by_row(tmp_path):
    (tmp_path / "s.csv").write_text("name\n 3\np1\n\n3\n+4\nx_y\n", encoding="utf-8")
    source = SetDef(name="S", csv={"path": "s.csv", "value_column": "name"}).csv
    fast = data._csv_set_elements(source, tmp_path, "set 'S'")
    slow = dict.fromkeys(bulk.element_of(row[-1])
                         for row in data.read_csv(source, tmp_path, "set 'S'"))
    assert list(fast) == list(slow) == [3, "p1", 4, "x_y"]
