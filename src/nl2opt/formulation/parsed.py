"""All expression strings of a formulation, parsed once into trees.

Each parsed piece remembers the element it belongs to (e.g. "constraint
'capacity'") and its source text, so later stages can word errors precisely.
"""

from __future__ import annotations

from dataclasses import dataclass

from nl2opt.errors import ExpressionError
from nl2opt.formulation import expr as E
from nl2opt.formulation.model import Formulation, Variable
from nl2opt.formulation.parser import parse_expression, parse_forall, parse_relation


@dataclass(frozen=True)
class ParsedText:
    element: str
    text: str
    tree: E.Expr


@dataclass(frozen=True)
class ParsedConstraint:
    name: str
    element: str
    forall: tuple[tuple[str, str], ...]  # (index name, set name)
    where: ParsedText | None
    relation: ParsedText  # tree is an E.Compare


@dataclass(frozen=True)
class ParsedVariable:
    name: str
    lower: ParsedText | float | None
    upper: ParsedText | float | None


@dataclass(frozen=True)
class ParsedFormulation:
    objective: ParsedText
    constraints: tuple[ParsedConstraint, ...]
    variables: tuple[ParsedVariable, ...]


def parse_formulation(formulation: Formulation) -> tuple[ParsedFormulation | None,
                                                         list[ExpressionError]]:
    """Parse every expression; returns the parsed form (None if any failed) and all errors."""
    partial, errors = parse_partially(formulation)
    return (None if errors else partial), errors


def parse_partially(formulation: Formulation) -> tuple[ParsedFormulation | None,
                                                       list[ExpressionError]]:
    """Like parse_formulation, but keeps every piece that did parse (for validation,
    which checks the rest); None only when the objective itself failed."""
    errors: list[ExpressionError] = []

    def parse(text: str, element: str, relation: bool = False) -> ParsedText | None:
        try:
            tree = parse_relation(text, element) if relation else parse_expression(text, element)
        except ExpressionError as error:
            errors.append(error)
            return None
        return ParsedText(element, text, tree)

    objective = parse(formulation.objective.expression, "objective")
    constraints = []
    for constraint in formulation.constraints:
        element = f"constraint '{constraint.name}'"
        forall = []
        for entry in constraint.forall:
            try:
                forall.append(parse_forall(entry, element))
            except ExpressionError as error:
                errors.append(error)
        where = parse(constraint.where, f"{element} (where)") if constraint.where else None
        relation = parse(constraint.expression, element, relation=True)
        if relation is not None:
            constraints.append(ParsedConstraint(constraint.name, element, tuple(forall), where,
                                                relation))
    variables = [_parse_variable(v, parse) for v in formulation.variables]
    if objective is None:
        return None, errors
    return ParsedFormulation(objective, tuple(constraints), tuple(variables)), errors


def _parse_variable(variable: Variable, parse) -> ParsedVariable:
    def bound(value, which: str):
        if value is None or isinstance(value, (int, float)):
            return None if value is None else float(value)
        return parse(str(value), f"variable '{variable.name}' ({which} bound)")

    return ParsedVariable(variable.name, bound(variable.lower, "lower"),
                          bound(variable.upper, "upper"))
