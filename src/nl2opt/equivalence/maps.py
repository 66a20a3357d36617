"""Affine maps between the variables of two instances: the equivalence certificate.

`AffineMap` sends a point y of the *source* model to a point x = M y + d of the
*target* model. Maps are built from a column matching, fitted from paired
solutions, or parsed from expressions an LLM proposed (with nl2opt's safe
parser: the text is never evaluated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nl2opt.equivalence.instance import InstanceModel
from nl2opt.errors import ExpressionError, Nl2OptError
from nl2opt.formulation import expr as E
from nl2opt.formulation.parser import parse_expression


class MappingError(Nl2OptError):
    """A proposed variable mapping cannot be used (unknown names, nonlinear terms)."""


@dataclass
class AffineMap:
    """x_target = matrix @ y_source + shift, for the target columns in `defined`."""

    matrix: sp.csr_matrix  # (target cols, source cols)
    shift: np.ndarray
    defined: np.ndarray  # bool per target column
    origin: str = ""  # how it was found: name-match, wl-match, fitted, llm
    unsettled: int = 0  # fitted: columns left undefined for lack of distinct samples

    @property
    def complete(self) -> bool:
        return bool(self.defined.all())

    def apply(self, y: np.ndarray) -> np.ndarray:
        return self.matrix @ y + self.shift

    def describe(self, target: InstanceModel, source: InstanceModel) -> dict[str, str]:
        """{target variable: affine expression in source variable names}."""
        out = {}
        for row in range(target.num_cols):
            if not self.defined[row]:
                out[target.names[row]] = "?"
                continue
            start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
            terms = [(self.matrix.indices[k], self.matrix.data[k]) for k in range(start, end)
                     if abs(self.matrix.data[k]) > 1e-12]
            out[target.names[row]] = affine_text(
                [(source.names[c], v) for c, v in terms], float(self.shift[row]))
        return out


def affine_text(terms: list[tuple[str, float]], constant: float) -> str:
    parts = []
    for name, coef in terms:
        magnitude = f"{abs(coef):.10g}"
        body = name if magnitude == "1" else f"{magnitude}*{name}"
        parts.append(("- " if coef < 0 else "+ ") + body)
    if abs(constant) > 1e-12 or not parts:
        parts.append(("- " if constant < 0 else "+ ") + f"{abs(constant):.10g}")
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def permutation_map(matching: dict[int, int], target: InstanceModel, source: InstanceModel,
                    origin: str) -> AffineMap:
    """x_target[i] = y_source[matching[i]] for matched i; others undefined."""
    rows = np.array(sorted(matching), dtype=int)
    cols = np.array([matching[i] for i in rows], dtype=int)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)),
                           shape=(target.num_cols, source.num_cols))
    defined = np.zeros(target.num_cols, dtype=bool)
    defined[rows] = True
    return AffineMap(matrix, np.zeros(target.num_cols), defined, origin)


# --- expressions proposed by an LLM -----------------------------------------------------

def map_from_expressions(expressions: dict[str, str], target: InstanceModel,
                         source: InstanceModel, origin: str = "llm") -> AffineMap:
    """{target variable name: affine expression in source variables} -> AffineMap.

    Names are looked up exactly, then as (name, index) labels, so `x['a', 1]`, `x[a,1]`
    and `x(a,1)` all find the same column."""
    lookup_target = _Lookup(target)
    lookup_source = _Lookup(source)
    rows, cols, vals = [], [], []
    shift = np.zeros(target.num_cols)
    defined = np.zeros(target.num_cols, dtype=bool)
    for name, text in expressions.items():
        row = lookup_target.column(name, where=f"mapping key {name!r}")
        try:
            tree = parse_expression(str(text), element=f"mapping[{name}]")
        except ExpressionError as exc:
            raise MappingError(f"the expression for {name} does not parse: {exc}") from exc
        terms, constant = _affine(tree, lookup_source, name)
        for col, coef in terms.items():
            rows.append(row)
            cols.append(col)
            vals.append(coef)
        shift[row] = constant
        defined[row] = True
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(target.num_cols, source.num_cols))
    return AffineMap(matrix, shift, defined, origin)


class _Lookup:
    def __init__(self, model: InstanceModel) -> None:
        self.model = model
        self.by_name = {n: k for k, n in enumerate(model.names)}
        self.by_label = {(base, tuple(str(e) for e in key)): k
                         for k, (base, key) in enumerate(model.labels)}

    def column(self, name: str, where: str = "") -> int:
        if name in self.by_name:
            return self.by_name[name]
        try:
            tree = parse_expression(name)
        except ExpressionError:
            tree = None
        found = self.from_tree(tree) if tree is not None else None
        if found is None:
            raise MappingError(f"{where or name}: {self.model.source or 'the model'} has no "
                               f"variable {name!r}; use the names as listed")
        return found

    def from_tree(self, tree) -> int | None:
        if isinstance(tree, E.Name):
            return self.by_name.get(tree.id, self.by_label.get((tree.id, ())))
        if isinstance(tree, E.Index):
            key = tuple(_element(i) for i in tree.indices)
            if None in key:
                return None
            return self.by_label.get((tree.name, key))
        return None


def _element(node) -> str | None:
    if isinstance(node, E.Num):
        value = node.value
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(node, E.Str):
        return node.value
    if isinstance(node, E.Name):
        return node.id
    return None


def _affine(node, lookup: _Lookup, where: str) -> tuple[dict[int, float], float]:
    """(coefficients by source column, constant) of an affine expression tree."""
    if isinstance(node, E.Num):
        return {}, float(node.value)
    if isinstance(node, (E.Name, E.Index)):
        column = lookup.from_tree(node)
        if column is None:
            raise MappingError(f"mapping for {where}: {E.to_source(node)!r} is not a variable "
                               f"of {lookup.model.source or 'the other model'}")
        return {column: 1.0}, 0.0
    if isinstance(node, E.Unary):
        terms, constant = _affine(node.operand, lookup, where)
        sign = -1.0 if node.op == "-" else 1.0
        return {k: sign * v for k, v in terms.items()}, sign * constant
    if isinstance(node, E.Binary):
        left = _affine(node.left, lookup, where)
        right = _affine(node.right, lookup, where)
        if node.op in ("+", "-"):
            sign = 1.0 if node.op == "+" else -1.0
            terms = dict(left[0])
            for k, v in right[0].items():
                terms[k] = terms.get(k, 0.0) + sign * v
            return terms, left[1] + sign * right[1]
        if node.op == "*" and (not left[0] or not right[0]):
            factor, other = (left[1], right) if not left[0] else (right[1], left)
            return {k: factor * v for k, v in other[0].items()}, factor * other[1]
        if node.op == "/" and not right[0] and right[1] != 0:
            return {k: v / right[1] for k, v in left[0].items()}, left[1] / right[1]
        if node.op == "**" and not left[0] and not right[0]:
            return {}, float(left[1] ** right[1])
    raise MappingError(f"mapping for {where}: {E.to_source(node)!r} is not affine; write "
                       "a sum of constant * variable terms plus a constant")
