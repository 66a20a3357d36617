"""Values of vectorized evaluation: index frames and row-wise numbers, elements,
masks, linear and quadratic expressions (COO triplets), with pure operations on them.

A *frame* is a table of index bindings: row r binds each index name to a
position in its set. `expand` and `fold` implement `sum(...)`: expand a frame by
a set, evaluate the body on the larger frame, fold the rows back with bincount.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nl2opt.formulation.data import SetData

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=float)


@dataclass(frozen=True)
class Binding:
    set: SetData
    positions: np.ndarray  # int64, one per frame row


@dataclass(frozen=True)
class Frame:
    size: int
    bindings: dict[str, Binding] = field(default_factory=dict)

    def take(self, rows: np.ndarray) -> "Frame":
        return Frame(len(rows), {name: Binding(b.set, b.positions[rows])
                                 for name, b in self.bindings.items()})

    def labels(self, row: int) -> tuple:
        return tuple(b.set.elements[b.positions[row]] for b in self.bindings.values())


def product_frame(bindings: list[tuple[str, SetData]]) -> Frame:
    """All combinations of the given sets, in lexicographic order."""
    sizes = [len(s) for _, s in bindings]
    size = int(np.prod(sizes)) if sizes else 1
    grids = np.indices(sizes).reshape(len(sizes), -1) if sizes else []
    return Frame(size, {name: Binding(s, np.asarray(grid, dtype=np.int64))
                        for (name, s), grid in zip(bindings, grids)})


@dataclass(frozen=True)
class Const:
    values: np.ndarray  # float, one per row


@dataclass(frozen=True)
class Elem:
    """Set elements: a bound index (its set's elements + positions) or literal values."""

    elements: np.ndarray
    set: SetData | None = None
    positions: np.ndarray | None = None

    @property
    def values(self) -> np.ndarray:
        # Computed on demand: indexing by position (the common case) never needs it.
        return self.elements if self.positions is None else self.elements[self.positions]


@dataclass(frozen=True)
class Mask:
    values: np.ndarray  # bool


@dataclass(frozen=True)
class Lin:
    const: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    coefs: np.ndarray

    def scale(self, factor: np.ndarray) -> "Lin":
        return Lin(self.const * factor, self.rows, self.cols, self.coefs * factor[self.rows])


@dataclass(frozen=True)
class Quad:
    lin: Lin
    rows: np.ndarray
    cols1: np.ndarray
    cols2: np.ndarray
    coefs: np.ndarray

    def scale(self, factor: np.ndarray) -> "Quad":
        return Quad(self.lin.scale(factor), self.rows, self.cols1, self.cols2,
                    self.coefs * factor[self.rows])


Value = Const | Elem | Mask | Lin | Quad


def all_finite(value: Value) -> bool:
    if isinstance(value, Const):
        parts = (value.values,)
    elif isinstance(value, Lin):
        parts = (value.const, value.coefs)
    elif isinstance(value, Quad):
        parts = (value.lin.const, value.lin.coefs, value.coefs)
    else:
        return True
    return all(np.isfinite(part).all() for part in parts)


def single_column(size: int, column: int) -> Lin:
    return column_terms(size, np.full(size, column, dtype=np.int64))


def column_terms(size: int, columns: np.ndarray) -> Lin:
    columns = np.broadcast_to(columns, (size,)).astype(np.int64, copy=False)
    return Lin(np.zeros(size), np.arange(size, dtype=np.int64), columns, np.ones(size))


def as_lin(value: Const | Lin) -> Lin:
    if isinstance(value, Lin):
        return value
    return Lin(value.values, _EMPTY_I, _EMPTY_I, _EMPTY_F)


def as_quad(value: Const | Lin | Quad) -> Quad:
    if isinstance(value, Quad):
        return value
    return Quad(as_lin(value), _EMPTY_I, _EMPTY_I, _EMPTY_I, _EMPTY_F)


def scale(value: Value, factor: np.ndarray) -> Value:
    if isinstance(value, Const):
        return Const(value.values * factor)
    return value.scale(factor)


def add(left: Value, right: Value) -> Value:
    if isinstance(left, Const) and isinstance(right, Const):
        return Const(left.values + right.values)
    if isinstance(left, Quad) or isinstance(right, Quad):
        a, b = as_quad(left), as_quad(right)
        return Quad(add(a.lin, b.lin), np.concatenate([a.rows, b.rows]),
                    np.concatenate([a.cols1, b.cols1]), np.concatenate([a.cols2, b.cols2]),
                    np.concatenate([a.coefs, b.coefs]))
    a, b = as_lin(left), as_lin(right)
    return Lin(a.const + b.const, np.concatenate([a.rows, b.rows]),
               np.concatenate([a.cols, b.cols]), np.concatenate([a.coefs, b.coefs]))


def lin_times_lin(left: Lin, right: Lin) -> Quad:
    """(ca + La)(cb + Lb) = ca*cb + ca*Lb + cb*La + La*Lb, row by row."""
    right_terms = Lin(np.zeros_like(right.const), right.rows, right.cols, right.coefs)
    left_terms = Lin(np.zeros_like(left.const), left.rows, left.cols, left.coefs)
    linear = add(add(Const(left.const * right.const), right_terms.scale(left.const)),
                  left_terms.scale(right.const))
    size = len(left.const)
    order_b = np.argsort(right.rows, kind="stable")
    b_rows = right.rows[order_b]
    counts_b = np.bincount(b_rows, minlength=size)
    starts_b = np.concatenate([[0], np.cumsum(counts_b)[:-1]]).astype(np.int64)
    repeat = counts_b[left.rows]
    a_index = np.repeat(np.arange(len(left.rows)), repeat)
    within = np.arange(int(repeat.sum())) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    b_index = order_b[starts_b[left.rows[a_index]] + within]
    quad = Quad(as_lin(linear), left.rows[a_index], left.cols[a_index], right.cols[b_index],
                left.coefs[a_index] * right.coefs[b_index])
    return quad


def expand(frame: Frame, parent: np.ndarray, var: str, set_data: SetData):
    count = len(set_data)
    source_rows = np.repeat(np.arange(frame.size, dtype=np.int64), count)
    expanded = frame.take(source_rows)
    bindings = dict(expanded.bindings)
    bindings[var] = Binding(set_data, np.tile(np.arange(count, dtype=np.int64), frame.size))
    return Frame(expanded.size, bindings), parent[source_rows]


def fold(body: Value, parent: np.ndarray, size: int) -> Value:
    """Sum the rows of a sum's inner frame into the rows of the outer frame."""
    if isinstance(body, Const):
        return Const(np.bincount(parent, weights=body.values, minlength=size).astype(float))
    if isinstance(body, Lin):
        const = np.bincount(parent, weights=body.const, minlength=size).astype(float)
        return Lin(const, parent[body.rows], body.cols, body.coefs)
    lin = fold(body.lin, parent, size)
    return Quad(lin, parent[body.rows], body.cols1, body.cols2, body.coefs)
