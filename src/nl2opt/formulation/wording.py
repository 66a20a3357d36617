"""The user's words for a formulation: numbers, units, and names of its instances.

Everything a person reads about a model (the explanation, sensitivity sentences,
infeasibility repairs, the app's tables) goes through these few pure functions,
so numbers look the same everywhere ("1,028.57", "$19.29", "+385.71") and names
come from the formulation's descriptions and units rather than its symbols
("bread" instead of "x['bread']", "oven hours" instead of "oven_hours").

Units are read from the parameters: a parameter with unit "$/batch" multiplying
a variable in the objective makes the objective's unit "$" and that variable's
unit "batch". Nothing is guessed beyond that.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from nl2opt.errors import ExpressionError
from nl2opt.formulation import expr as E
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.parser import parse_expression

_CURRENCY_WORDS = {"$", "€", "£", "¥", "usd", "eur", "gbp", "chf", "dollar", "dollars",
                   "euro", "euros", "pound", "pounds"}
_SYMBOLS = {"$", "€", "£", "¥"}


# From here on (and below _TINY) digits stop being readable: "2.4e16", "3e-7".
_HUGE, _TINY = 1e15, 1e-4


def format_number(value: float | None, signed: bool = False) -> str:
    """One number format everywhere: thousands separators, at most two decimals for
    numbers of 1 or more, four significant digits below; scientific notation for huge
    and tiny magnitudes; "—" for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    if math.isinf(value):
        return ("+" if signed and value > 0 else "") + ("∞" if value > 0 else "-∞")
    if abs(value) < 1e-9:
        value = 0.0
    sign = "+" if signed and value > 0 else ""
    if abs(value) >= _HUGE or 0 < abs(value) < _TINY:
        return sign + scientific(value)
    if abs(value - round(value)) <= 1e-9 * max(1.0, abs(value)):
        return f"{sign}{round(value):,}"
    if abs(value) >= 1:
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return sign + ("0" if text in ("-0", "") else text)
    return f"{sign}{value:.4g}"


def scientific(value: float) -> str:
    """"2.4e16", "-1.235e-5": four significant digits, no "+" or leading zeros in the
    exponent."""
    mantissa, _, exponent = f"{value:.3e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def split_rate(unit: str) -> tuple[str, str]:
    """("$", "batch") for "$/batch" or "$ per batch"; (unit, "") when it is no rate."""
    text = unit.strip()
    for separator in ("/", " per "):
        if separator in text:
            top, _, bottom = text.partition(separator)
            return top.strip(), bottom.strip()
    return text, ""


def is_currency(unit: str) -> bool:
    return unit.strip().lower() in _CURRENCY_WORDS


def with_unit(value: float | None, unit: str = "", signed: bool = False) -> str:
    """"$1,028.57", "-$5", "40 acres", or the bare number without a unit."""
    unit = unit.strip()
    number = _money(value, signed) if is_currency(unit) else format_number(value, signed)
    if not unit or value is None:
        return number
    if unit in _SYMBOLS:
        sign, digits = (number[0], number[1:]) if number[:1] in "+-" else ("", number)
        return f"{sign}{unit}{digits}"
    return f"{number} {unit}"


def _money(value: float | None, signed: bool) -> str:
    """Money keeps two decimals once it has any ("$22.50", not "$22.5")."""
    text = format_number(value, signed)
    if value is None or abs(value) < 1 or "." not in text or "e" in text:
        return text
    return f"{'+' if signed and value > 0 else ''}{value:,.2f}"


def words(name: object) -> str:
    """An element or name as words: "oven_hours" -> "oven hours"."""
    return str(name).replace("_", " ").strip()


def capitalized(text: str) -> str:
    """The first letter upper-case, the rest as written ("oven hours" -> "Oven hours")."""
    return text[:1].upper() + text[1:]


def instance_words(key) -> str:
    """The index elements of one instance as words ("bread"; "wheat, 3"); "" for none."""
    return ", ".join(words(k) for k in key)


@dataclass(frozen=True)
class Units:
    """What the formulation's parameter units say about the objective and variables."""

    objective: str = ""
    variables: dict[str, str] = field(default_factory=dict)


def infer_units(formulation: Formulation) -> Units:
    """Units from "rate x variable" products in the objective (see the module text)."""
    units = {p.name: p.unit for p in formulation.parameters if p.unit.strip()}
    variables = {v.name for v in formulation.variables}
    try:
        tree = parse_expression(formulation.objective.expression, "objective")
    except ExpressionError:
        return Units()
    objective_votes: Counter[str] = Counter()
    variable_units: dict[str, str] = {}
    for node in E.walk(tree):
        if not (isinstance(node, E.Binary) and node.op == "*"):
            continue
        for rate_side, variable_side in ((node.left, node.right), (node.right, node.left)):
            rates = E.names_in(rate_side) & set(units)
            chosen = E.names_in(variable_side) & variables
            if len(rates) != 1 or not chosen or E.names_in(rate_side) & variables:
                continue
            top, bottom = split_rate(units[rates.pop()])
            objective_votes[top] += 1
            for variable in chosen:
                if bottom:
                    variable_units.setdefault(variable, bottom)
    objective = objective_votes.most_common(1)[0][0] if len(objective_votes) == 1 else ""
    return Units(objective, variable_units)


def objective_words(formulation: Formulation) -> str:
    """What the objective measures: its description, else the one parameter it weighs
    the decisions with ("profit"), else "objective"."""
    if formulation.objective.description.strip():
        return formulation.objective.description.strip()
    try:
        tree = parse_expression(formulation.objective.expression, "objective")
    except ExpressionError:
        return "objective"
    parameters = {p.name: p for p in formulation.parameters}
    used = [parameters[name] for name in sorted(E.names_in(tree)) if name in parameters]
    if len(used) == 1:
        return used[0].description.strip() or words(used[0].name)
    return "objective"


def variable_words(formulation: Formulation, name: str) -> str:
    """A variable's description, else its name as words."""
    for variable in formulation.variables:
        if variable.name == name:
            return variable.description.strip() or words(name)
    return words(name)


def constraint_words(formulation: Formulation, name: str) -> str:
    """A constraint's description, else its name as words."""
    for constraint in formulation.constraints:
        if constraint.name == name:
            return constraint.description.strip() or words(name)
    return words(name)
