"""Classify a formulation: LP, MILP, QP, MIQP, QCP, MIQCP, NLP or MINLP.

The degree analysis is static (no data needed): each expression gets the
polynomial degree of its decision variables, or NONLINEAR. Whether CP-SAT
applies also needs the coefficients, so `cp_sat_reason` works on compiled
arrays.
"""

from __future__ import annotations

from enum import Enum
from fractions import Fraction

import numpy as np

from nl2opt.formulation import expr as E
from nl2opt.formulation.model import Formulation, VarType
from nl2opt.formulation.parsed import ParsedFormulation

NONLINEAR = 99
MAX_SCALE = 10**9


class ProblemClass(str, Enum):
    LP = "LP"
    MILP = "MILP"
    QP = "QP"
    MIQP = "MIQP"
    QCP = "QCP"
    MIQCP = "MIQCP"
    NLP = "NLP"
    MINLP = "MINLP"

    @property
    def is_linear(self) -> bool:
        return self in (ProblemClass.LP, ProblemClass.MILP)

    @property
    def has_integers(self) -> bool:
        return self.value.startswith("MI")


def degree(node: E.Expr, variables: set[str], bound: frozenset[str] = frozenset()) -> int:
    """Polynomial degree in the decision variables; NONLINEAR when not a polynomial."""
    if isinstance(node, (E.Num, E.Str)):
        return 0
    if isinstance(node, E.Name):
        return 1 if node.id in variables and node.id not in bound else 0
    if isinstance(node, E.Index):
        return 1 if node.name in variables else 0
    if isinstance(node, E.Unary):
        return degree(node.operand, variables, bound)
    if isinstance(node, E.Sum):
        inner = bound | {g.var for g in node.generators}
        return degree(node.body, variables, frozenset(inner))
    if isinstance(node, E.Binary):
        return _binary_degree(node, variables, bound)
    if isinstance(node, E.Call):
        args = [degree(a, variables, bound) for a in node.args]
        return 0 if max(args, default=0) == 0 else NONLINEAR
    if isinstance(node, E.Compare):
        return max(degree(o, variables, bound) for o in node.operands)
    return 0  # conditions (BoolOp / Not) hold no decision variables once validated


def _binary_degree(node: E.Binary, variables: set[str], bound: frozenset[str]) -> int:
    left = degree(node.left, variables, bound)
    right = degree(node.right, variables, bound)
    if node.op in ("+", "-"):
        return max(left, right)
    if node.op == "*":
        return min(left + right, NONLINEAR)
    if node.op == "/":
        return left if right == 0 else NONLINEAR
    if left == 0 and right == 0:
        return 0
    exponent = _constant_integer(node.right)
    if right == 0 and exponent is not None and exponent >= 0:
        return min(left * exponent, NONLINEAR)
    return NONLINEAR


def _constant_integer(node: E.Expr) -> int | None:
    if isinstance(node, E.Num) and float(node.value).is_integer():
        return int(node.value)
    return None


def classify(formulation: Formulation, parsed: ParsedFormulation) -> ProblemClass:
    variables = {v.name for v in formulation.variables}
    integers = any(v.type is not VarType.continuous for v in formulation.variables)
    objective = degree(parsed.objective.tree, variables)
    constraint = max((degree(c.relation.tree, variables, frozenset(i for i, _ in c.forall))
                      for c in parsed.constraints), default=0)
    if objective > 2 or constraint > 2:
        kind = "NLP"
    elif constraint == 2:
        kind = "QCP"
    elif objective == 2:
        kind = "QP"
    else:
        kind = "LP"
    return ProblemClass(("MI" if integers else "") + kind)


def integer_scale(values: np.ndarray) -> int | None:
    """Smallest factor making every value an integer exactly, or None if too large."""
    scale = 1
    for value in np.unique(values[np.isfinite(values)]):
        fraction = Fraction(float(value)).limit_denominator(10**6)
        if float(fraction) != float(value):
            return None
        scale = scale * fraction.denominator // _gcd(scale, fraction.denominator)
        if scale > MAX_SCALE:
            return None
    return scale


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a
