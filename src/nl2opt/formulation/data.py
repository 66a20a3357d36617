"""Resolve a formulation's sets and parameters into arrays.

Sets become ordered element tuples; indexed parameters become dense float
arrays over the product of their index sets, with NaN where no value (and no
default) was given. CSV sources are read here, from inside the formulation's
data folder only (`nl2opt.formulation.datafiles`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from nl2opt.errors import DataError
from nl2opt.formulation import bulk
from nl2opt.formulation.datafiles import read_data_text
from nl2opt.formulation.limits import current_limits, too_large
from nl2opt.formulation.model import CsvSource, Formulation, Parameter, SetDef
from nl2opt.text import snippet

# Integer elements are looked up as int64 and computed with as floats (t - 1): beyond
# 2**53 neither is exact, and beyond 2**63 numpy cannot hold them at all.
MAX_EXACT_INT = 2**53


@dataclass(frozen=True)
class SetData:
    """A resolved set. A `range` set keeps its elements as a lazy `range` (no tuple, no
    position table), so a large unused range costs nothing."""

    name: str
    elements: Sequence
    positions: dict = field(repr=False, compare=False)
    is_integer: bool = field(default=False, compare=False)

    def __len__(self) -> int:
        return len(self.elements)

    def position_of(self, element) -> int | None:
        """Position of an element, accepting '3' for 3 (JSON keys are strings)."""
        if isinstance(self.elements, range):
            return _range_position(self.elements, element)
        if element in self.positions:
            return self.positions[element]
        return self.positions.get(str(element))

    def element_array(self) -> np.ndarray:
        """The elements as a numpy array (int64 for integer sets, object otherwise)."""
        if isinstance(self.elements, range):
            return np.arange(self.elements.start, self.elements.stop, dtype=np.int64)
        dtype = np.int64 if self.is_integer and len(self) else object
        return np.array(self.elements, dtype=dtype)


def _range_position(elements: range, element) -> int | None:
    if isinstance(element, str):
        text = element.strip()
        element = int(text) if text.lstrip("-").isdigit() and text.isascii() else None
    elif isinstance(element, float):
        element = int(element) if element.is_integer() else None
    elif isinstance(element, np.integer):
        element = int(element)
    if not isinstance(element, int) or element not in elements:
        return None
    return element - elements.start


@dataclass(frozen=True)
class ParamData:
    name: str
    index: tuple[str, ...]
    values: np.ndarray  # shape = sizes of the index sets; NaN = missing

    def missing_tuples(self, sets: dict[str, SetData], limit: int = 3) -> tuple[int, list]:
        """How many index tuples have no value, and the first few of them."""
        missing = np.argwhere(np.isnan(self.values)) if self.index else np.empty((0, 0))
        examples = [tuple(sets[s].elements[p] for s, p in zip(self.index, row))
                    for row in missing[:limit]]
        return len(missing), examples


@dataclass(frozen=True)
class ModelData:
    sets: dict[str, SetData]
    params: dict[str, ParamData]

    def set_sizes(self) -> dict[str, int]:
        return {name: len(s) for name, s in self.sets.items()}


def make_set(name: str, elements: Iterable) -> SetData:
    ordered = tuple(elements)
    kinds = set(map(type, ordered))  # one pass in C; most sets are all text or all int
    positions = _positions_in_bulk(ordered, kinds)
    if positions is None:
        positions = _positions_one_by_one(name, ordered)
    integer = all(issubclass(kind, int) for kind in kinds)
    if any(issubclass(kind, int) for kind in kinds):
        for element in ordered:
            if isinstance(element, int):
                _check_exact(element, f"set '{name}'")
    return SetData(name, ordered, positions, integer)


def _positions_in_bulk(ordered: tuple, kinds: set) -> dict | None:
    """Element -> position, plus str(element) -> position for non-text elements (JSON keys
    are text); None when an element repeats or a text equals another element's str (the
    one-by-one loop decides those)."""
    positions = {element: position for position, element in enumerate(ordered)}
    if len(positions) != len(ordered):
        return None
    if kinds <= {str}:
        return positions
    for position, element in enumerate(ordered):
        if element.__class__ is not str:
            text = str(element)
            if text in positions:
                return None
            positions[text] = position
    return positions


def _positions_one_by_one(name: str, ordered: tuple) -> dict:
    """The elements first, then the text of each number where no element has that text:
    a key names the element whose text it is, whatever the order ([1, '1'] as ['1', 1])."""
    positions: dict = {}
    for position, element in enumerate(ordered):
        if element in positions:
            raise DataError(f"set '{name}': element {snippet(element)} is listed twice; list "
                            "each element once")
        positions[element] = position
    for position, element in enumerate(ordered):
        if element.__class__ is not str:
            positions.setdefault(str(element), position)
    return positions


def _check_exact(value: int, where: str) -> None:
    if abs(value) > MAX_EXACT_INT:
        digits = str(value) if len(str(abs(value))) <= 30 else f"{str(value)[:12]}... " \
            f"({len(str(abs(value)))} digits)"
        raise DataError(f"{where}: the integer {digits} is too large; integer elements must "
                        f"lie within +-{MAX_EXACT_INT:,} (2**53) to compute exactly. Number "
                        "the elements from 1, or write large labels as strings")


def resolve_data(formulation: Formulation) -> ModelData:
    """Sets and parameter arrays of a formulation; raises DataError on bad data, and
    ModelTooLargeError when the dense parameter arrays would exceed the size limit."""
    with bulk.collector_paused():
        sets = {s.name: resolve_set(s, formulation.data_dir) for s in formulation.sets}
        _check_parameter_cells(formulation.parameters, sets)
        params = {p.name: resolve_parameter(p, sets, formulation.data_dir)
                  for p in formulation.parameters}
    return ModelData(sets, params)


def _check_parameter_cells(parameters: list[Parameter], sets: dict[str, SetData]) -> None:
    """Refuse before allocating: each indexed parameter is a dense array over its sets."""
    limit, total = current_limits().max_terms, 0
    for param in parameters:
        sizes = [len(sets[s]) for s in param.index if s in sets]
        total += math.prod(sizes)
        if total > limit:
            shape = " x ".join(f"{len(sets[s]):,} ({s})" for s in param.index if s in sets)
            raise too_large(f"parameter '{param.name}'", total, limit,
                            f"its values are stored for every index tuple: {shape}")


def resolve_set(definition: SetDef, data_dir: Path | None) -> SetData:
    if definition.range is not None:
        first, last = definition.range
        where = f"set '{definition.name}' (range)"
        _check_exact(first, where)
        _check_exact(last, where)
        return SetData(definition.name, range(first, last + 1), {}, True)
    if definition.csv is not None:
        return make_set(definition.name, _csv_set_elements(definition.csv, data_dir,
                                                           f"set '{definition.name}'"))
    return make_set(definition.name, definition.elements or [])


def resolve_parameter(param: Parameter, sets: dict[str, SetData], data_dir: Path | None
                      ) -> ParamData:
    where = f"parameter '{param.name}'"
    unknown = [s for s in param.index if s not in sets]
    if unknown:
        raise DataError(f"{where} is indexed over undeclared set(s) {', '.join(unknown)}; "
                        "declare them under 'sets'")
    index_sets = [sets[s] for s in param.index]
    fill = np.nan if param.default is None else float(param.default)
    if not index_sets:
        value = param.value if param.value is not None else param.default
        return ParamData(param.name, (), np.array(float(value)))
    values = np.full(tuple(len(s) for s in index_sets), fill, dtype=float)
    if not _fill_in_bulk(values, param, index_sets, data_dir, where):
        # Something is off: the per-entry loop finds the first problem and words it.
        _fill_one_by_one(values, param, index_sets, data_dir, where)
    return ParamData(param.name, tuple(param.index), values)


def _fill_one_by_one(values: np.ndarray, param: Parameter, index_sets: list[SetData],
                     data_dir: Path | None, where: str) -> None:
    for key, value in _entries(param, index_sets, data_dir, where):
        values[_locate(key, index_sets, where)] = _number(value, where, key)


def _fill_in_bulk(values: np.ndarray, param: Parameter, index_sets: list[SetData],
                  data_dir: Path | None, where: str) -> bool:
    """The fast path (`nl2opt.formulation.bulk`); False when the data needs the per-entry
    loop's error, with `values` untouched."""
    if param.values is not None:
        columns = bulk.nested_columns(param.values, len(index_sets))
        return columns is not None and bulk.fill_columns(values, [columns], index_sets)
    if param.table is not None:
        return bulk.fill(values, param.table, index_sets)
    if param.csv is None or len(param.csv.index_columns) != len(index_sets):
        return param.csv is None
    try:
        return bulk.fill_columns(values, csv_column_chunks(param.csv, data_dir, where),
                                 index_sets, cells=True)
    except DataError:
        return False


def _csv_set_elements(source: CsvSource, data_dir: Path | None, where: str) -> dict:
    """The distinct elements of a CSV column, in file order (read in bulk; on any problem
    read again row by row, which locates it)."""
    try:
        elements: dict = {}
        for columns in csv_column_chunks(source, data_dir, where):
            elements.update(dict.fromkeys(bulk.element_of(text) for text in columns[-1]))
        return elements
    except DataError:
        rows = read_csv(source, data_dir, where)
        return dict.fromkeys(bulk.element_of(row[-1]) for row in rows)


def _entries(param: Parameter, index_sets: list[SetData], data_dir: Path | None, where: str
             ) -> Iterable[tuple[tuple, object]]:
    arity = len(param.index)
    if param.values is not None:
        yield from _flatten(param.values, arity, (), where)
    elif param.table is not None:
        for row in param.table:
            if len(row) != arity + 1:
                raise DataError(f"{where}: table row {row} has {len(row)} entries; expected "
                                f"{arity} index elements followed by the value")
            yield tuple(row[:arity]), row[arity]
    elif param.csv is not None:
        source = param.csv
        if len(source.index_columns) != arity:
            raise DataError(f"{where}: csv.index_columns names {len(source.index_columns)} "
                            f"column(s) but the parameter has {arity} index set(s)")
        for *index, value in read_csv(source, data_dir, where):
            key = tuple(bulk.cell_element(cell, s) for cell, s in zip(index, index_sets))
            yield key, value


def _flatten(mapping, depth: int, prefix: tuple, where: str):
    if depth == 0:
        yield prefix, mapping
        return
    if not isinstance(mapping, dict):
        raise DataError(f"{where}: expected a mapping at index {prefix or '(top)'}, got "
                        f"{mapping!r}; nest one level per index set")
    for key, value in mapping.items():
        yield from _flatten(value, depth - 1, prefix + (key,), where)


def _locate(key: tuple, index_sets: list[SetData], where: str) -> tuple[int, ...]:
    positions = []
    for element, set_data in zip(key, index_sets):
        position = set_data.position_of(element)
        if position is None:
            raise DataError(f"{where}: {snippet(element)} is not an element of set "
                            f"'{set_data.name}' (elements: {_preview(set_data.elements)})")
        positions.append(position)
    return tuple(positions)


def _number(value, where: str, key: tuple) -> float:
    if isinstance(value, bool):
        raise DataError(f"{where}{_shown_key(key)}: {snippet(value)} is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    except (TypeError, ValueError):
        raise DataError(f"{where}{_shown_key(key)}: {snippet(value)} is not a number"
                        ) from None
    if np.isnan(number):
        raise DataError(f"{where}{_shown_key(key)}: value is NaN; give a number or use 'default'")
    if math.isinf(number) and not _says_infinity(value):
        raise DataError(f"{where}{_shown_key(key)}: {snippet(value)} is too large for a "
                        "floating-point number; rescale the data (e.g. thousands)")
    return number


def _says_infinity(value) -> bool:
    """An infinity written as such (a float, 'inf'), not a number too large for a float:
    the first is data (validation decides where it is allowed), the second an error."""
    if isinstance(value, float):
        return True
    return isinstance(value, str) and value.strip().lstrip("+-").lower() in ("inf", "infinity")


def read_csv(source: CsvSource, data_dir: Path | None, where: str
             ) -> Iterator[tuple[str, ...]]:
    """Each row's index columns then value column, read from inside the data folder only
    (see datafiles); a DataError located at `where`, the file and the line otherwise."""
    try:
        text = read_data_text(data_dir, source.path)
    except DataError as error:
        raise DataError(f"{where}: {error}") from None
    shown = snippet(source.path, 80)
    rows = csv_rows(text, f"{where}: data file {shown}")
    header = next(rows, (0, []))[1]
    wanted = [*source.index_columns, source.value_column]
    absent = [c for c in wanted if c not in header]
    if absent:
        columns = ", ".join(snippet(c, 40) for c in header[:12])
        raise DataError(f"{where}: data file {shown} has no column(s) "
                        f"{', '.join(snippet(c, 40) for c in absent)}; its columns are "
                        f"{columns}{', ...' if len(header) > 12 else ''}")
    positions = [header.index(c) for c in wanted]
    last = max(positions)
    for number, cells in rows:
        if len(cells) <= last:
            missing = next(c for c, k in zip(wanted, positions) if k >= len(cells))
            raise DataError(f"{where}: data file {shown}, line {number} has no value in "
                            f"column {snippet(missing, 40)}; give every row a value")
        yield tuple(cells[k] for k in positions)


def csv_column_chunks(source: CsvSource, data_dir: Path | None, where: str
                      ) -> Iterator[list[list[str]]]:
    """The wanted columns (index columns, then the value column) of up to CHUNK_ROWS
    rows at a time: the bulk reader. A DataError on any problem, without the detail:
    `read_csv` reads the file again and says where (the error path only)."""
    text = read_data_text(data_dir, source.path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((cells for cells in reader if cells), [])
        wanted = [*source.index_columns, source.value_column]
        if any(c not in header for c in wanted):
            raise DataError(f"{where}: missing columns")
        positions = [header.index(c) for c in wanted]
        last = max(positions)
        while raw := list(islice(reader, bulk.CHUNK_ROWS)):
            rows = [cells for cells in raw if cells]
            if rows and min(map(len, rows)) <= last:
                raise DataError(f"{where}: a row without a value")
            yield [[cells[k] for cells in rows] for k in positions]
    except csv.Error:
        raise DataError(f"{where}: not readable as CSV") from None


def csv_rows(text: str, shown: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row, the header first; csv.Error (e.g. a field
    over 128 KB) becomes a DataError starting with `shown` and naming the line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for cells in reader:
            if cells:
                yield reader.line_num, cells
    except csv.Error as error:
        raise DataError(f"{shown}, line {reader.line_num}: {_csv_problem(error)}") from None


def _csv_problem(error: csv.Error) -> str:
    message = str(error)
    if "field larger than field limit" in message:
        return (f"a field is longer than {csv.field_size_limit():,} characters, the CSV "
                "reader's limit; a closing quote may be missing")
    return f"not readable as CSV ({message})"


def _preview(elements: tuple, limit: int = 8) -> str:
    shown = ", ".join(snippet(e, 40) for e in elements[:limit])
    return shown + (", ..." if len(elements) > limit else "")


def _shown_key(key: tuple) -> str:
    """An index tuple as '[a, b]', each element short and escaped (it may come from a file)."""
    return "[" + ", ".join(snippet(element, 40) for element in key) + "]"
