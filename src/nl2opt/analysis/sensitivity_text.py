"""Sensitivity as plain sentences, worded from the formulation's descriptions and units.

"One more unit of oven hours is worth $19.29, while that limit stays between 24
and 80 (it is 40 now)." Every number comes from `nl2opt.solvers.sensitivity`
(HiGHS's duals and ranging); only the words are added here.
"""

from __future__ import annotations

from dataclasses import dataclass

from nl2opt.formulation.model import Formulation, Sense
from nl2opt.formulation.wording import (
    capitalized,
    constraint_words,
    format_number,
    infer_units,
    instance_words,
    objective_words,
    variable_words,
    with_unit,
)
from nl2opt.solvers.sensitivity import ColumnSensitivity, RowSensitivity, Sensitivity

TOLERANCE = 1e-7
FIXED_NOTE = ("This model has whole-number decisions: these figures hold with those decisions "
              "kept as in this plan (the LP with the integers fixed); they say nothing about "
              "changing them.")


@dataclass(frozen=True)
class SensitivityText:
    """Sentences about scarce limits, about unused options, and about how stable the plan is."""

    limits: list[str]
    unused: list[str]
    stability: list[str]
    note: str = ""


def sensitivity_text(formulation: Formulation, found: Sensitivity, limit: int = 12
                     ) -> SensitivityText:
    units = infer_units(formulation)
    money = units.objective
    limits = [limit_sentence(formulation, row, found.sense, money)
              for row in found.rows if informative_row(row)]
    free = [c for c in found.columns if not fixed_column(c)]
    unused = [unused_sentence(formulation, column, found.sense, money,
                              units.variables.get(column.name, ""))
              for column in free
              if abs(column.value) <= TOLERANCE and abs(column.reduced_cost) > TOLERANCE]
    stability = [stability_sentence(formulation, column, money,
                                     units.variables.get(column.name, ""))
                 for column in free if abs(column.value) > TOLERANCE and column.cost != 0
                 and (column.cost_low is not None or column.cost_high is not None)]
    return SensitivityText(limits[:limit], unused[:limit], stability[:limit],
                           FIXED_NOTE if found.fixed_integers else "")


def informative_row(row: RowSensitivity) -> bool:
    """A binding limit with a price and a range of some width (a range of one point says
    only that the plan is degenerate there)."""
    if not row.binding or abs(row.dual) <= TOLERANCE:
        return False
    low, high = row.limit_low, row.limit_high
    return low is None or high is None or high - low > TOLERANCE * max(1.0, abs(high))


def fixed_column(column: ColumnSensitivity) -> bool:
    """A decision the fixed-integer LP holds at one value (its cost range means nothing)."""
    return column.fixed


def subject(formulation: Formulation, row: RowSensitivity) -> str:
    """What a constraint instance limits: its index elements, else its description."""
    return instance_words(row.index) or constraint_words(formulation, row.name)


def limit_sentence(formulation: Formulation, row: RowSensitivity, sense: Sense,
                   money: str) -> str:
    """What one more unit of a binding limit is worth, and over which range."""
    at_upper = row.upper is not None and abs(row.activity - row.upper) <= TOLERANCE * max(
        1.0, abs(row.upper))
    effect = objective_effect(row.dual, sense, with_unit(abs(row.dual), money),
                              objective_words(formulation))
    if at_upper or row.kind == "==":
        head = f"One more unit of {subject(formulation, row)} {effect}"
    else:
        head = f"Requiring one more unit of {subject(formulation, row)} {effect}"
    bound = row.upper if at_upper or row.lower is None else row.lower
    return f"{head}{_range_text(row.limit_low, row.limit_high, bound)}."


def objective_effect(change: float, sense: Sense, amount: str, what: str) -> str:
    """How a change of the objective value reads: "is worth $5 of profit", "saves $5 of
    cost", "costs $5 of profit", "adds $5 to cost"."""
    helps = (change > 0) == (sense is Sense.maximize)
    if sense is Sense.maximize:
        return f"is worth {amount} of {what}" if helps else f"costs {amount} of {what}"
    return f"saves {amount} of {what}" if helps else f"adds {amount} to {what}"


def _range_text(low: float | None, high: float | None, now: float | None) -> str:
    current = f" (it is {format_number(now)} now)" if now is not None else ""
    if low is not None and high is not None:
        return f", while that limit stays between {format_number(low)} and " \
               f"{format_number(high)}{current}"
    if low is not None:
        return f", while that limit stays above {format_number(low)}{current}"
    if high is not None:
        return f", while that limit stays below {format_number(high)}{current}"
    return current


def _label(formulation: Formulation, column: ColumnSensitivity) -> str:
    """"bread" for an indexed decision, its description for a scalar one."""
    return instance_words(column.index) or variable_words(formulation, column.name)


def unused_sentence(formulation: Formulation, column: ColumnSensitivity, sense: Sense,
                    money: str, unit: str) -> str:
    """Why a decision is zero: what each unit of it would cost the objective."""
    described = variable_words(formulation, column.name)
    where = f" for {instance_words(column.index)}" if column.index else ""
    effect = objective_effect(-abs(column.reduced_cost) if sense is Sense.maximize
                              else abs(column.reduced_cost), sense,
                              with_unit(abs(column.reduced_cost), money),
                              objective_words(formulation))
    return f"{capitalized(described)}{where} is zero: each {unit or 'unit'} of it {effect}."


def stability_sentence(formulation: Formulation, column: ColumnSensitivity, money: str,
                       unit: str) -> str:
    """Over which range of its objective coefficient the plan keeps this decision."""
    what = f"the {objective_words(formulation)} per {unit or 'unit'} of " \
           f"{_label(formulation, column)}"
    now = f" (it is {with_unit(column.cost, money)} now)"
    low = with_unit(column.cost_low, money) if column.cost_low is not None else None
    high = with_unit(column.cost_high, money) if column.cost_high is not None else None
    if low and high:
        span = f"stays between {low} and {high}"
    elif low:
        span = f"stays above {low}"
    else:
        span = f"stays below {high}"
    return f"The plan stays the best while {what} {span}{now}."
