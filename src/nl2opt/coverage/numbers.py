"""Every number a formulation uses, and where it uses it.

Parameter values count only when the parameter is referenced by the
objective, a constraint or a bound, so a dropped constraint leaves its data
unused. Literals in expressions count (constant sub-expressions like `2/3`
are folded); index literals (`stock[t - 1]`) and set sizes count as
structure, which covers counts in the text ("three plants", "6 nodes").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from itertools import product

import numpy as np

from nl2opt.errors import Nl2OptError
from nl2opt.formulation import expr as E
from nl2opt.formulation.data import SetData, resolve_parameter, resolve_set
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.parsed import ParsedText, parse_partially

MAX_ENTRIES = 20_000  # per parameter; larger ones contribute their distinct values only


class Source(str, Enum):
    parameter = "parameter"
    bound = "bound"
    literal = "literal"
    structure = "structure"
    total = "total"  # a sum of a parameter's values, e.g. total demand


@dataclass(frozen=True)
class ModelNumber:
    value: float
    where: str  # e.g. "parameter 'cost'[plant_a, 3]"
    source: Source
    parameter: str = ""
    words: str = ""  # names, descriptions and units around it, e.g. "cost $/unit"


def model_numbers(formulation: Formulation) -> list[ModelNumber]:
    """The numbers of a formulation that take part in the model."""
    parsed, _ = parse_partially(formulation)
    trees = _trees(parsed) if parsed is not None else []
    referenced = {node.id if isinstance(node, E.Name) else node.name
                  for _, tree, _ in trees for node in E.walk(tree)
                  if isinstance(node, E.Name | E.Index)}
    sets = _sets(formulation)
    numbers = _structure(formulation, sets)
    words = _element_words(formulation)
    for element, tree, condition in trees:
        numbers += _literals(tree, element, condition, words.get(element, ""))
    numbers += _numeric_bounds(formulation)
    for parameter in formulation.parameters:
        if parameter.name in referenced:
            numbers += _parameter_numbers(parameter, sets, formulation)
    return numbers


def _trees(parsed) -> list[tuple[str, E.Expr, bool]]:
    """(element, tree, is a condition on indices) for every parsed expression."""
    pieces: list[tuple[ParsedText, bool]] = [(parsed.objective, False)]
    for constraint in parsed.constraints:
        pieces.append((constraint.relation, False))
        if constraint.where is not None:
            pieces.append((constraint.where, True))
    for variable in parsed.variables:
        pieces += [(b, False) for b in (variable.lower, variable.upper)
                   if isinstance(b, ParsedText)]
    return [(piece.element, piece.tree, condition) for piece, condition in pieces]


def _element_words(formulation: Formulation) -> dict[str, str]:
    """What each expression's element says about itself (names, descriptions)."""
    words = {"objective": formulation.objective.description}
    for constraint in formulation.constraints:
        words[f"constraint '{constraint.name}'"] = \
            f"{constraint.name.replace('_', ' ')} {constraint.description}"
    for variable in formulation.variables:
        for which in ("lower", "upper"):
            words[f"variable '{variable.name}' ({which} bound)"] = \
                f"{variable.name.replace('_', ' ')} {variable.description}"
    return words


def _sets(formulation: Formulation) -> dict[str, SetData]:
    sets = {}
    for definition in formulation.sets:
        try:
            sets[definition.name] = resolve_set(definition, formulation.data_dir)
        except Nl2OptError:
            continue
    return sets


def _structure(formulation: Formulation, sets: dict[str, SetData]) -> list[ModelNumber]:
    found = [ModelNumber(float(len(s)), f"the size of set '{name}'", Source.structure)
             for name, s in sets.items()]
    for name, data in sets.items():
        found += [ModelNumber(float(e), f"an element of set '{name}'", Source.structure)
                  for e in data.elements[:1000] if isinstance(e, int | float)]
    scalars = sum(1 for v in formulation.variables if not v.index)
    for count, what in ((len(formulation.variables), "the number of variables"),
                        (scalars, "the number of scalar variables"),
                        (len(formulation.constraints), "the number of constraints")):
        found.append(ModelNumber(float(count), what, Source.structure))
    return found


def _literals(tree: E.Expr, element: str, condition: bool, words: str) -> list[ModelNumber]:
    found: list[ModelNumber] = []
    stack: list[tuple[E.Expr, bool]] = [(tree, condition)]
    while stack:
        node, in_index = stack.pop()
        source = Source.structure if in_index else Source.literal
        if isinstance(node, E.Num):
            found.append(ModelNumber(abs(float(node.value)), element, source, words=words))
        folded = _fold(node)
        if folded is not None and not isinstance(node, E.Num | E.Unary):
            found.append(ModelNumber(abs(folded), element, source, words=words))
        inside = in_index or _is_condition(node)
        stack.extend((child, inside) for child in E.children(node))
        if isinstance(node, E.Sum):
            stack.extend((c, True) for g in node.generators for c in g.conditions)
    return found


def _is_condition(node: E.Expr) -> bool:
    """Index slots and comparisons between indices are structure, not data."""
    if isinstance(node, E.Index):
        return True
    return isinstance(node, E.Compare) and any(op in ("<", ">", "!=") for op in node.ops)


def _fold(node: E.Expr) -> float | None:
    """The value of a constant sub-expression such as `2/3` or `-(0.5 * 40)`."""
    if isinstance(node, E.Num):
        return float(node.value)
    if isinstance(node, E.Unary):
        inner = _fold(node.operand)
        return None if inner is None else (-inner if node.op == "-" else inner)
    if isinstance(node, E.Binary):
        left, right = _fold(node.left), _fold(node.right)
        if left is None or right is None:
            return None
        try:
            return {"+": left + right, "-": left - right, "*": left * right,
                    "/": left / right if right else None,
                    "**": left ** right if abs(right) < 10 else None}[node.op]
        except (OverflowError, ZeroDivisionError):
            return None
    return None


def _numeric_bounds(formulation: Formulation) -> list[ModelNumber]:
    found = []
    for variable in formulation.variables:
        for which in ("lower", "upper"):
            bound = getattr(variable, which)
            if isinstance(bound, int | float) and not isinstance(bound, bool):
                found.append(ModelNumber(abs(float(bound)), f"the {which} bound of variable "
                                         f"'{variable.name}'", Source.bound,
                                         words=f"{variable.name} {variable.description}"))
    return found


def _parameter_numbers(parameter, sets: dict[str, SetData],
                       formulation: Formulation) -> list[ModelNumber]:
    try:
        data = resolve_parameter(parameter, sets, formulation.data_dir)
    except Nl2OptError:
        return []
    values = data.values
    name = parameter.name
    words = f"{name.replace('_', ' ')} {parameter.description} {parameter.unit}"
    if values.ndim == 0:
        return [ModelNumber(abs(float(values)), f"parameter '{name}'", Source.parameter, name,
                            words)]
    found = _entries(name, values, [sets[s] for s in parameter.index], words)
    finite = np.where(np.isnan(values), 0.0, values)
    found.append(ModelNumber(abs(float(finite.sum())), f"the total of parameter '{name}'",
                             Source.total, name))
    if values.ndim == 2:
        for axis in (0, 1):
            found += [ModelNumber(abs(float(v)), f"a row or column total of parameter '{name}'",
                                  Source.total, name) for v in finite.sum(axis=axis)]
    return found


def _entries(name: str, values: np.ndarray, index_sets: list[SetData],
             words: str) -> list[ModelNumber]:
    if values.size > MAX_ENTRIES:
        distinct = np.unique(values[~np.isnan(values)])
        return [ModelNumber(abs(float(v)), f"parameter '{name}'", Source.parameter, name, words)
                for v in distinct[:MAX_ENTRIES]]
    found = []
    for key in product(*(range(len(s)) for s in index_sets)):
        value = values[key]
        if np.isnan(value):
            continue
        label = ", ".join(str(s.elements[k]) for s, k in zip(index_sets, key))
        found.append(ModelNumber(abs(float(value)), f"parameter '{name}'[{label}]",
                                 Source.parameter, name, words))
    return found
