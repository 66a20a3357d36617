"""Which parameter sets a limit of a compiled model: the "lever" a person can move.

A conflict names rows and column bounds of the `ArrayModel`; a person thinks in
parameters ("land", "the wheat contract"). For a row, the side of its relation
without variables is that lever when it is one parameter, bare or indexed by the
constraint's own indices (`<= land`, `>= need[h]`); for a bound, the bound
expression when it is one parameter (`"lower": "contract[C]"`). Anything else
(a literal number, `2 * land`) has no lever and is reported as the limit itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from nl2opt.errors import ExpressionError
from nl2opt.formulation import expr as E
from nl2opt.formulation.arrays import ArrayModel
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.parser import parse_expression, parse_relation
from nl2opt.solvers.conflict import Limit


@dataclass(frozen=True)
class Lever:
    """The parameter entry behind a limit (`parameter` is "" when there is none)."""

    parameter: str = ""
    key: tuple = ()


def lever_of(formulation: Formulation, model: ArrayModel, limit: Limit) -> Lever:
    try:
        if limit.kind == "row":
            return _row_lever(formulation, model, limit)
        return _bound_lever(formulation, model, limit)
    except (ExpressionError, StopIteration, KeyError):
        return Lever()


def _row_lever(formulation: Formulation, model: ArrayModel, limit: Limit) -> Lever:
    block = next(b for b in model.rows if b.offset <= limit.position < b.offset + b.size)
    constraint = next(c for c in formulation.constraints if c.name == block.name)
    relation = parse_relation(constraint.expression, constraint.name)
    side = _limit_side(relation, limit.side, _variables(formulation))
    if side is None:
        return Lever()
    row = limit.position - block.offset
    bound = {name: b.set.elements[b.positions[row]] for name, b in block.frame.bindings.items()}
    return _parameter_lever(formulation, side, bound)


def _limit_side(relation: E.Compare, side: str, variables: set[str]) -> E.Expr | None:
    """The operand that sets the row's `side` bound, if it holds no variables."""
    operands, ops = relation.operands, relation.ops
    if len(operands) == 3:  # lo <= e <= hi, or hi >= e >= lo
        low, high = (operands[0], operands[2]) if ops[0] in ("<=", "<") else \
            (operands[2], operands[0])
        candidate = high if side == "upper" else low
    else:
        left, right = operands
        constant_right = not (E.names_in(right) & variables)
        constant = right if constant_right else left
        if E.names_in(constant) & variables:
            return None
        op = ops[0]
        gives_upper = (op in ("<=", "<")) == constant_right
        if op != "==" and gives_upper != (side == "upper") and side != "both":
            return None
        candidate = constant
    return None if E.names_in(candidate) & variables else candidate


def _bound_lever(formulation: Formulation, model: ArrayModel, limit: Limit) -> Lever:
    name, key = model.column_label(limit.position)
    variable = next(v for v in formulation.variables if v.name == name)
    bound = variable.upper if limit.side == "upper" else variable.lower
    if not isinstance(bound, str):
        return Lever()
    tree = parse_expression(bound, f"variable '{name}'")
    parameters = {p.name: p for p in formulation.parameters}
    if isinstance(tree, E.Name) and tree.id in parameters and parameters[tree.id].index:
        return Lever(tree.id, key)  # a bare indexed parameter applies element-wise
    return _parameter_lever(formulation, tree, dict(zip(variable.index, key)))


def _parameter_lever(formulation: Formulation, tree: E.Expr, bound: dict) -> Lever:
    """`tree` as one parameter entry, its indices given by `bound` (name -> element)."""
    parameters = {p.name for p in formulation.parameters}
    if isinstance(tree, E.Name) and tree.id in parameters:
        return Lever(tree.id, ())
    if isinstance(tree, E.Index) and tree.name in parameters:
        key = []
        for index in tree.indices:
            if isinstance(index, E.Name) and index.id in bound:
                key.append(bound[index.id])
            elif isinstance(index, (E.Str, E.Num)):
                key.append(index.value)
            else:
                return Lever()
        return Lever(tree.name, tuple(key))
    return Lever()


def _variables(formulation: Formulation) -> set[str]:
    return {v.name for v in formulation.variables}

