"""Vectorized evaluation of expression trees over index frames.

A *frame* is a table of index bindings: row r binds each index name to a
position in its set. Evaluating an expression over a frame yields, for every
row at once, either numbers (`Const`), set elements (`Elem`), booleans
(`Mask`), a linear expression in the decision variables (`Lin`, as COO
triplets), or a quadratic one (`Quad`). `sum(...)` expands the frame by its
generators and folds the result back with `bincount`. This is why the direct
HiGHS path needs no Python loop per nonzero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nl2opt.errors import CompileError
from nl2opt.formulation import expr as E
from nl2opt.formulation.data import ModelData, SetData

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=float)


class NonlinearTerm(CompileError):
    """Raised when an expression leaves the linear/quadratic world."""


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


@dataclass(frozen=True)
class VariableLayout:
    name: str
    sets: tuple[SetData, ...]
    offset: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.sets)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.sets else 1


@dataclass
class Evaluator:
    """Evaluates trees against resolved data and a column layout of the variables."""

    data: ModelData
    variables: dict[str, VariableLayout]
    element: str = ""
    text: str = ""
    _element_arrays: dict = field(default_factory=dict)

    def fail(self, node: E.Expr, message: str) -> CompileError:
        where = f"{self.element}: " if self.element else ""
        snippet = self.text[node.span[0]:node.span[1]] if self.text else E.to_source(node)
        return CompileError(f"{where}{message} (in '{snippet or E.to_source(node)}')")

    # -- entry points ----------------------------------------------------------------------
    def evaluate(self, node: E.Expr, frame: Frame) -> Value:
        method = getattr(self, f"_eval_{type(node).__name__}")
        # Overflow (e.g. 1e308 * 10) must become an error here, not an inf coefficient.
        with np.errstate(over="ignore", invalid="ignore"):
            value = method(node, frame)
        if not _all_finite(value):
            raise self.fail(node, "arithmetic gives a non-finite number (overflow or "
                            "similar); check the data and rescale large numbers")
        return value

    def numeric(self, node: E.Expr, frame: Frame) -> Const | Lin | Quad:
        value = self.evaluate(node, frame)
        if isinstance(value, Elem):
            return self._elem_as_const(node, value)
        if isinstance(value, Mask):
            raise self.fail(node, "a condition was used where a number is expected")
        return value

    def mask(self, node: E.Expr, frame: Frame) -> np.ndarray:
        value = self.evaluate(node, frame)
        if not isinstance(value, Mask):
            raise self.fail(node, "a number was used where a condition (a comparison) is "
                            "expected")
        return value.values

    # -- leaves ----------------------------------------------------------------------------
    def _eval_Num(self, node: E.Num, frame: Frame) -> Value:
        return Const(np.full(frame.size, float(node.value)))

    def _eval_Str(self, node: E.Str, frame: Frame) -> Value:
        return Elem(np.full(frame.size, node.value, dtype=object))

    def _eval_Name(self, node: E.Name, frame: Frame) -> Value:
        name = node.id
        if name in frame.bindings:
            binding = frame.bindings[name]
            return Elem(self._elements(binding.set), binding.set, binding.positions)
        if name in self.data.params:
            param = self.data.params[name]
            if param.index:
                raise self.fail(node, f"parameter '{name}' is indexed over "
                                f"({', '.join(param.index)}); write {name}[...]")
            return Const(np.full(frame.size, float(param.values)))
        if name in self.variables:
            layout = self.variables[name]
            if layout.sets:
                raise self.fail(node, f"variable '{name}' is indexed; write {name}[...]")
            return _single_column(frame.size, layout.offset)
        raise self.fail(node, f"'{name}' is not defined here")

    def _eval_Index(self, node: E.Index, frame: Frame) -> Value:
        if node.name in self.data.params:
            param = self.data.params[node.name]
            positions = self._positions(node, [self.data.sets[s] for s in param.index], frame)
            values = param.values[positions] if positions else np.full(frame.size,
                                                                       float(param.values))
            if np.isnan(values).any():
                row = int(np.flatnonzero(np.isnan(values))[0])
                key = tuple(self.data.sets[s].elements[p[row]]
                            for s, p in zip(param.index, positions))
                raise self.fail(node, f"parameter '{node.name}' has no value for {key}; add "
                                "it, give the parameter a 'default', or restrict the indices "
                                "with a condition")
            return Const(values.astype(float, copy=False))
        if node.name in self.variables:
            layout = self.variables[node.name]
            positions = self._positions(node, list(layout.sets), frame)
            flat = np.ravel_multi_index(positions, layout.shape) if positions else 0
            return _column_terms(frame.size, layout.offset + np.asarray(flat, dtype=np.int64))
        raise self.fail(node, f"'{node.name}' is not an indexed parameter or variable")

    def _positions(self, node: E.Index, sets: list[SetData], frame: Frame) -> tuple:
        if len(node.indices) != len(sets):
            raise self.fail(node, f"'{node.name}' takes {len(sets)} index(es) "
                            f"({', '.join(s.name for s in sets) or 'none'}) but got "
                            f"{len(node.indices)}")
        return tuple(self._slot(index, expected, node, frame)
                     for index, expected in zip(node.indices, sets))

    def _slot(self, index: E.Expr, expected: SetData, node: E.Index, frame: Frame):
        value = self.evaluate(index, frame)
        if isinstance(value, Elem) and value.set is expected:
            return value.positions
        if isinstance(value, Const):
            raw = value.values
            if not np.all(np.equal(np.mod(raw, 1), 0)):
                raise self.fail(node, f"index '{E.to_source(index)}' is not a whole number")
            candidates = raw.astype(np.int64)
        elif isinstance(value, Elem):
            candidates = value.values
        else:
            raise self.fail(node, f"index '{E.to_source(index)}' involves decision variables "
                            "or conditions; indices must be set elements")
        return self._lookup(candidates, expected, index, node, frame)

    def _lookup(self, candidates: np.ndarray, expected: SetData, index: E.Expr,
                node: E.Index, frame: Frame) -> np.ndarray:
        if len(candidates) == 0:
            return _EMPTY_I
        if expected.is_integer and candidates.dtype.kind in "iu":
            elements = self._elements(expected).astype(np.int64)
            order = np.argsort(elements, kind="stable")
            found = np.searchsorted(elements[order], candidates)
            found = np.clip(found, 0, len(elements) - 1)
            positions = order[found] if len(elements) else found
            valid = (elements[positions] == candidates) if len(elements) else found < 0
        else:
            uniques, inverse = np.unique(candidates.astype(object).astype(str), return_inverse=True)
            mapped = np.array([expected.position_of(u) if expected.position_of(u) is not None
                               else -1 for u in uniques], dtype=np.int64)
            positions = mapped[inverse]
            valid = positions >= 0
        if not valid.all():
            row = int(np.flatnonzero(~valid)[0])
            bound = ", ".join(f"{k} = {v!r}" for k, v in
                              zip(frame.bindings, frame.labels(row))) or "no indices bound"
            bad = candidates[row].item() if hasattr(candidates[row], "item") else candidates[row]
            raise self.fail(node, f"index '{E.to_source(index)}' = {bad!r} is not "
                            f"an element of set '{expected.name}' (when {bound}); restrict the "
                            "indices with a condition (e.g. 'where: t > 1' for t - 1) or "
                            "treat that case in a separate constraint")
        return positions

    def _elements(self, set_data: SetData) -> np.ndarray:
        cached = self._element_arrays.get(set_data.name)
        if cached is None:
            dtype = np.int64 if set_data.is_integer and len(set_data) else object
            cached = np.array(set_data.elements, dtype=dtype)
            self._element_arrays[set_data.name] = cached
        return cached

    def _elem_as_const(self, node: E.Expr, value: Elem) -> Const:
        if value.values.dtype.kind in "iuf":
            return Const(value.values.astype(float))
        raise self.fail(node, "a non-numeric set element is used as a number")

    # -- arithmetic ------------------------------------------------------------------------
    def _eval_Unary(self, node: E.Unary, frame: Frame) -> Value:
        operand = self.numeric(node.operand, frame)
        return operand if node.op == "+" else _scale(operand, np.full(frame.size, -1.0))

    def _eval_Binary(self, node: E.Binary, frame: Frame) -> Value:
        left = self.numeric(node.left, frame)
        right = self.numeric(node.right, frame)
        if node.op == "+":
            return _add(left, right)
        if node.op == "-":
            return _add(left, _scale(right, np.full(frame.size, -1.0)))
        if node.op == "*":
            return self._multiply(node, left, right)
        if node.op == "/":
            if not isinstance(right, Const):
                raise NonlinearTerm(f"{self.element}: division by a decision-variable "
                                    f"expression in '{E.to_source(node)}'")
            if np.any(right.values == 0):
                raise self.fail(node, "division by zero")
            return _scale(left, 1.0 / right.values)
        return self._power(node, left, right)

    def _multiply(self, node: E.Expr, left: Value, right: Value) -> Value:
        if isinstance(left, Const):
            return _scale(right, left.values)
        if isinstance(right, Const):
            return _scale(left, right.values)
        if isinstance(left, Lin) and isinstance(right, Lin):
            return _lin_times_lin(left, right)
        raise NonlinearTerm(f"{self.element}: product of degree above 2 in "
                            f"'{E.to_source(node)}'")

    def _power(self, node: E.Binary, base: Value, exponent: Value) -> Value:
        if not isinstance(exponent, Const):
            raise NonlinearTerm(f"{self.element}: variable exponent in '{E.to_source(node)}'")
        if isinstance(base, Const):
            with np.errstate(all="ignore"):
                result = np.power(base.values, exponent.values)
            return Const(self._finite(node, result, "power"))
        powers = np.unique(exponent.values)
        if len(powers) == 1 and powers[0] in (0.0, 1.0, 2.0):
            if powers[0] == 0.0:
                return Const(np.ones(len(exponent.values)))
            if powers[0] == 1.0:
                return base
            if isinstance(base, Lin):
                return _lin_times_lin(base, base)
        raise NonlinearTerm(f"{self.element}: power of a decision-variable expression in "
                            f"'{E.to_source(node)}'")

    def _finite(self, node: E.Expr, values: np.ndarray, what: str) -> np.ndarray:
        if not np.all(np.isfinite(values)):
            raise self.fail(node, f"{what} gives a non-finite number (overflow, log or sqrt "
                            "of a negative number, or similar); check the data")
        return values

    def _eval_Call(self, node: E.Call, frame: Frame) -> Value:
        if node.func == "len":
            set_name = node.args[0].id  # the parser guarantees a Name
            if set_name not in self.data.sets:
                raise self.fail(node, f"len() needs a set name; '{set_name}' is not a set")
            return Const(np.full(frame.size, float(len(self.data.sets[set_name]))))
        args = [self.numeric(a, frame) for a in node.args]
        if not all(isinstance(a, Const) for a in args):
            raise NonlinearTerm(f"{self.element}: {node.func}() of a decision-variable "
                                f"expression in '{E.to_source(node)}'")
        arrays = [a.values for a in args]
        functions = {"abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
                     "sin": np.sin, "cos": np.cos, "tan": np.tan}
        with np.errstate(all="ignore"):
            if node.func == "min":
                result = np.minimum.reduce(arrays)
            elif node.func == "max":
                result = np.maximum.reduce(arrays)
            else:
                result = functions[node.func](arrays[0])
        return Const(self._finite(node, result, f"{node.func}()"))

    # -- sums --------------------------------------------------------------------------------
    def _eval_Sum(self, node: E.Sum, frame: Frame) -> Value:
        inner, parent = frame, np.arange(frame.size, dtype=np.int64)
        for generator in node.generators:
            if generator.set_name not in self.data.sets:
                raise self.fail(node, f"'{generator.set_name}' in 'for {generator.var} in "
                                f"{generator.set_name}' is not a declared set")
            inner, parent = _expand(inner, parent, generator.var,
                                    self.data.sets[generator.set_name])
            for condition in generator.conditions:
                keep = np.flatnonzero(self.mask(condition, inner))
                inner, parent = inner.take(keep), parent[keep]
        body = self.numeric(node.body, inner)
        return _fold(body, parent, frame.size)

    # -- conditions --------------------------------------------------------------------------
    def _eval_Compare(self, node: E.Compare, frame: Frame) -> Value:
        values = [self.evaluate(o, frame) for o in node.operands]
        result = np.ones(frame.size, dtype=bool)
        for op, left, right in zip(node.ops, values, values[1:]):
            result &= self._compare(node, op, left, right)
        return Mask(result)

    def _compare(self, node: E.Expr, op: str, left: Value, right: Value) -> np.ndarray:
        a, b = self._comparable(node, left), self._comparable(node, right)
        if a.dtype.kind == "O" or b.dtype.kind == "O":
            if op not in ("==", "!="):
                raise self.fail(node, f"'{op}' compares non-numeric set elements; only == and "
                                "!= are allowed for those")
            a, b = a.astype(str), b.astype(str)
        operations = {"<=": np.less_equal, ">=": np.greater_equal, "==": np.equal,
                      "<": np.less, ">": np.greater, "!=": np.not_equal}
        return operations[op](a, b)

    def _comparable(self, node: E.Expr, value: Value) -> np.ndarray:
        if isinstance(value, (Const, Elem)):
            return value.values
        raise self.fail(node, "conditions may compare only indices and parameters, not "
                        "decision variables or other conditions")

    def _eval_BoolOp(self, node: E.BoolOp, frame: Frame) -> Value:
        masks = [self.mask(v, frame) for v in node.values]
        reduce = np.logical_and.reduce if node.op == "and" else np.logical_or.reduce
        return Mask(reduce(masks))

    def _eval_Not(self, node: E.Not, frame: Frame) -> Value:
        return Mask(~self.mask(node.operand, frame))


# -- pure helpers on values ---------------------------------------------------------------
def _all_finite(value: Value) -> bool:
    if isinstance(value, Const):
        parts = (value.values,)
    elif isinstance(value, Lin):
        parts = (value.const, value.coefs)
    elif isinstance(value, Quad):
        parts = (value.lin.const, value.lin.coefs, value.coefs)
    else:
        return True
    return all(np.isfinite(part).all() for part in parts)


def _single_column(size: int, column: int) -> Lin:
    return _column_terms(size, np.full(size, column, dtype=np.int64))


def _column_terms(size: int, columns: np.ndarray) -> Lin:
    columns = np.broadcast_to(columns, (size,)).astype(np.int64, copy=False)
    return Lin(np.zeros(size), np.arange(size, dtype=np.int64), columns, np.ones(size))


def as_lin(value: Const | Lin) -> Lin:
    if isinstance(value, Lin):
        return value
    return Lin(value.values, _EMPTY_I, _EMPTY_I, _EMPTY_F)


def _as_quad(value: Const | Lin | Quad) -> Quad:
    if isinstance(value, Quad):
        return value
    return Quad(as_lin(value), _EMPTY_I, _EMPTY_I, _EMPTY_I, _EMPTY_F)


def _scale(value: Value, factor: np.ndarray) -> Value:
    if isinstance(value, Const):
        return Const(value.values * factor)
    return value.scale(factor)


def _add(left: Value, right: Value) -> Value:
    if isinstance(left, Const) and isinstance(right, Const):
        return Const(left.values + right.values)
    if isinstance(left, Quad) or isinstance(right, Quad):
        a, b = _as_quad(left), _as_quad(right)
        return Quad(_add(a.lin, b.lin), np.concatenate([a.rows, b.rows]),
                    np.concatenate([a.cols1, b.cols1]), np.concatenate([a.cols2, b.cols2]),
                    np.concatenate([a.coefs, b.coefs]))
    a, b = as_lin(left), as_lin(right)
    return Lin(a.const + b.const, np.concatenate([a.rows, b.rows]),
               np.concatenate([a.cols, b.cols]), np.concatenate([a.coefs, b.coefs]))


def _lin_times_lin(left: Lin, right: Lin) -> Quad:
    """(ca + La)(cb + Lb) = ca*cb + ca*Lb + cb*La + La*Lb, row by row."""
    right_terms = Lin(np.zeros_like(right.const), right.rows, right.cols, right.coefs)
    left_terms = Lin(np.zeros_like(left.const), left.rows, left.cols, left.coefs)
    linear = _add(_add(Const(left.const * right.const), right_terms.scale(left.const)),
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


def _expand(frame: Frame, parent: np.ndarray, var: str, set_data: SetData):
    count = len(set_data)
    source_rows = np.repeat(np.arange(frame.size, dtype=np.int64), count)
    expanded = frame.take(source_rows)
    bindings = dict(expanded.bindings)
    bindings[var] = Binding(set_data, np.tile(np.arange(count, dtype=np.int64), frame.size))
    return Frame(expanded.size, bindings), parent[source_rows]


def _fold(body: Value, parent: np.ndarray, size: int) -> Value:
    """Sum the rows of a sum's inner frame into the rows of the outer frame."""
    if isinstance(body, Const):
        return Const(np.bincount(parent, weights=body.values, minlength=size).astype(float))
    if isinstance(body, Lin):
        const = np.bincount(parent, weights=body.const, minlength=size).astype(float)
        return Lin(const, parent[body.rows], body.cols, body.coefs)
    lin = _fold(body.lin, parent, size)
    return Quad(lin, parent[body.rows], body.cols1, body.cols2, body.coefs)
