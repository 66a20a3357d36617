"""Place parameter values in bulk: a whole column of index elements mapped to positions
with one dict lookup each, a whole column of values converted with one `float` each, and
the array filled with one numpy assignment per chunk of rows.

This is the fast path of `data.resolve_parameter`; it gives up (returns False, having
written nothing) at the first thing that is not plainly right: an element not in its
set, a value that is not a finite number, a bool, a ragged table, a CSV line without a
value. The caller then runs the per-entry loop, which raises the located error exactly
as before, so error messages and their order do not depend on this module.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice

import numpy as np

CHUNK_ROWS = 65_536  # rows converted at a time: bounded memory for million-row CSV files


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: reading a million CSV rows makes millions of
    short-lived lists, and each collection would walk all the live ones again (it more
    than doubles the time). Nothing read here forms reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def element_of(text: str):
    """A CSV cell as a set element: an int when `int()` reads it, else the stripped text
    (found without raising an exception per text cell)."""
    stripped = text.strip()
    if stripped.isdecimal() or stripped[:1] in ("+", "-") or "_" in stripped:
        try:
            return int(stripped)
        except ValueError:
            return stripped
    return stripped


def cell_element(text: str, set_data):
    """A CSV cell as an element of `set_data`: its stripped text when the set has that very
    text (so '01' is the element '01', not the int 1 that names the element '1'), else
    `element_of(text)`."""
    stripped = text.strip()
    return stripped if stripped in set_data.positions else element_of(text)


def nested_columns(mapping, depth: int) -> list[list] | None:
    """The index columns and the value column of a mapping nested `depth` levels deep,
    in the per-entry loop's (depth-first) order; None when a level is not a mapping
    (the per-entry loop words that error)."""
    columns: list[list] = [[] for _ in range(depth + 1)]
    stack = [((), mapping)]
    while stack:
        prefix, level = stack.pop()
        if not isinstance(level, dict):
            return None
        if len(prefix) == depth - 1:
            for column, key in zip(columns, prefix):
                column.extend([key] * len(level))
            columns[depth - 1].extend(level.keys())
            columns[depth].extend(level.values())
        else:
            stack.extend((prefix + (key,), inner) for key, inner in reversed(level.items()))
    return columns


def fill(values: np.ndarray, rows: Iterable[Sequence], index_sets: Sequence) -> bool:
    """Write rows (index elements, then the value) into `values`, later rows winning as
    in the per-entry loop. False, with `values` untouched, as soon as any row is not
    plainly right."""
    if rows and set(map(len, rows)) != {len(index_sets) + 1}:
        return False
    return fill_columns(values, (list(zip(*chunk)) for chunk in _chunks(iter(rows))),
                        index_sets)


def fill_columns(values: np.ndarray, chunks: Iterable[list[Sequence]], index_sets: Sequence,
                 cells: bool = False) -> bool:
    """`fill` from chunks of columns (index columns, then the values). `cells`: elements
    are CSV text, read as `element_of` does."""
    sizes = [len(s) for s in index_sets]
    flats, numbers = [], []
    for columns in chunks:
        if not columns or not len(columns[-1]):
            continue
        flat = np.zeros(len(columns[-1]), dtype=np.int64)
        for column, set_data, size in zip(columns, index_sets, sizes):
            positions = positions_of(column, set_data, cells)
            if positions is None:
                return False
            flat = flat * size + positions
        number = finite_numbers(columns[-1])
        if number is None:
            return False
        flats.append(flat)
        numbers.append(number)
    if flats:
        _assign_last_wins(values, np.concatenate(flats), np.concatenate(numbers))
    return True


def _chunks(rows: Iterator[Sequence]) -> Iterator[list[Sequence]]:
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


def positions_of(column: Sequence, set_data, cells: bool = False) -> np.ndarray | None:
    """Each element's position in its set (`SetData.position_of`), or None if any is
    not an element."""
    if cells:
        column = [cell_element(text, set_data) for text in column]
    elements = set_data.elements
    if isinstance(elements, range):
        return _range_positions(column, set_data)
    get = set_data.positions.get
    try:
        found = [get(element, -1) for element in column]
    except TypeError:  # an unhashable element
        return None
    positions = np.array(found, dtype=np.int64)
    for row in np.flatnonzero(positions < 0):  # e.g. 3 for the element '3': str fallback
        position = set_data.position_of(column[row])
        if position is None:
            return None
        positions[row] = position
    return positions


def _range_positions(column: Sequence, set_data) -> np.ndarray | None:
    elements: range = set_data.elements
    if all(element.__class__ is int for element in column):
        try:
            positions = np.array(column, dtype=np.int64) - elements.start
        except OverflowError:
            return None
        inside = (positions >= 0) & (positions < len(elements))
        return positions if inside.all() else None
    found = [set_data.position_of(element) for element in column]
    return None if None in found else np.array(found, dtype=np.int64)


def finite_numbers(column: Sequence) -> np.ndarray | None:
    """The values as floats (Python's `float`, as the per-entry loop reads them), or None
    if any is a bool, not a number, or not finite."""
    if bool in set(map(type, column)):  # bool cannot be subclassed: isinstance is type
        return None
    try:
        numbers = np.array(list(map(float, column)), dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    return numbers if np.isfinite(numbers).all() else None


def _assign_last_wins(values: np.ndarray, flat: np.ndarray, numbers: np.ndarray) -> None:
    """values.flat[flat] = numbers; where an index repeats, the last row's value (numpy
    leaves the order of repeated fancy assignments unspecified)."""
    last = np.full(values.size, -1, dtype=np.int64)
    np.maximum.at(last, flat, np.arange(len(flat), dtype=np.int64))
    cells = np.flatnonzero(last >= 0)
    values.reshape(-1)[cells] = numbers[last[cells]]
