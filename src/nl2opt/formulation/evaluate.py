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
from nl2opt.formulation.data import MAX_EXACT_INT, ModelData, SetData
from nl2opt.formulation.values import (
    Const,
    Elem,
    Frame,
    Lin,
    Mask,
    Quad,
    Value,
    add,
    all_finite,
    column_terms,
    expand,
    fold,
    lin_times_lin,
    scale,
    single_column,
)


class NonlinearTerm(CompileError):
    """Raised when an expression leaves the linear/quadratic world."""


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
        if not all_finite(value):
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
            return single_column(frame.size, layout.offset)
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
            return column_terms(frame.size, layout.offset + np.asarray(flat, dtype=np.int64))
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
            too_large = np.abs(raw) > MAX_EXACT_INT  # int64 would wrap or round them
            if too_large.any():
                bad = raw[np.flatnonzero(too_large)[0]]
                raise self.fail(node, f"index '{E.to_source(index)}' = {bad:.6g} is too large "
                                f"to be a set element (integer elements lie within "
                                f"+-{MAX_EXACT_INT:,}); check the arithmetic in the index")
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
            return np.zeros(0, dtype=np.int64)
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
            cached = set_data.element_array()
            self._element_arrays[set_data.name] = cached
        return cached

    def _elem_as_const(self, node: E.Expr, value: Elem) -> Const:
        if value.values.dtype.kind in "iuf":
            return Const(value.values.astype(float))
        raise self.fail(node, "a non-numeric set element is used as a number")

    # -- arithmetic ------------------------------------------------------------------------
    def _eval_Unary(self, node: E.Unary, frame: Frame) -> Value:
        operand = self.numeric(node.operand, frame)
        return operand if node.op == "+" else scale(operand, np.full(frame.size, -1.0))

    def _eval_Binary(self, node: E.Binary, frame: Frame) -> Value:
        left = self.numeric(node.left, frame)
        right = self.numeric(node.right, frame)
        if node.op == "+":
            return add(left, right)
        if node.op == "-":
            return add(left, scale(right, np.full(frame.size, -1.0)))
        if node.op == "*":
            return self._multiply(node, left, right)
        if node.op == "/":
            if not isinstance(right, Const):
                raise NonlinearTerm(f"{self.element}: division by a decision-variable "
                                    f"expression in '{E.to_source(node)}'")
            if np.any(right.values == 0):
                raise self.fail(node, "division by zero")
            return scale(left, 1.0 / right.values)
        return self._power(node, left, right)

    def _multiply(self, node: E.Expr, left: Value, right: Value) -> Value:
        if isinstance(left, Const):
            return scale(right, left.values)
        if isinstance(right, Const):
            return scale(left, right.values)
        if isinstance(left, Lin) and isinstance(right, Lin):
            return lin_times_lin(left, right)
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
                return lin_times_lin(base, base)
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
            inner, parent = expand(inner, parent, generator.var,
                                    self.data.sets[generator.set_name])
            for condition in generator.conditions:
                keep = np.flatnonzero(self.mask(condition, inner))
                inner, parent = inner.take(keep), parent[keep]
        body = self.numeric(node.body, inner)
        return fold(body, parent, frame.size)

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
