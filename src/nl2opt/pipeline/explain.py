"""The plain-language account of a solved model, in the user's words.

Built from the result itself (never from LLM prose) and worded from the
formulation's descriptions and units: "The best plan's profit is $1,028.57,
the highest possible." Only inequality constraints can be "limits reached";
equalities (balances, definitions) always hold exactly, so naming them says nothing.
"""

from __future__ import annotations

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
from nl2opt.solvers.result import SolveResult, Termination

ZERO = 1e-9
NO_SLACK = 1e-7


def explain(formulation: Formulation, result: SolveResult, limit: int = 8) -> str:
    """Headline, the decisions (nonzero values), and the limits the plan reaches."""
    units = infer_units(formulation)
    maximize = formulation.objective.sense is Sense.maximize
    what = objective_words(formulation)
    amount = with_unit(result.objective, units.objective)
    if result.stopped_with_point:
        lines = [(f"{result.limit_text()}. The best plan found so far has {what} "
                  f"{amount}; the solver's time limit ended the search before it proved "
                  f"this plan the best ({formulation.objective.sense.value}), so a longer "
                  "limit may improve it.")]
    elif result.termination is not Termination.optimal or result.objective is None:
        text = (f"No plan was found: {result.limit_text()}." if result.limit_text() else
                f"No optimal plan was found: the model is {result.termination.value}.")
        return text + (f"\n{result.diagnosis}" if result.diagnosis else "")
    else:
        best = "highest" if maximize else "lowest"
        lines = [f"The best plan's {what} is {amount}, the {best} possible."]
    lines += decision_lines(formulation, result, limit)
    lines += limit_lines(formulation, result, limit)
    return "\n".join(lines)


def decision_lines(formulation: Formulation, result: SolveResult, limit: int = 8
                   ) -> list[str]:
    """One line per variable with nonzero values: "batches per day — bread = 17.14, ..."."""
    lines = []
    for variable in result.variables.values():
        chosen = [(key, value) for key, value in variable.values if abs(value) > ZERO]
        if not chosen:
            continue
        shown = [item_text(key, value) for key, value in chosen[:limit]]
        more = f" and {len(chosen) - limit} more" if len(chosen) > limit else ""
        lines.append(f"{capitalized(variable_words(formulation, variable.name))} — "
                     f"{', '.join(shown)}{more}.")
    return lines


def item_text(key, value: float) -> str:
    """"bread = 17.14", "(leeds, york) = 120", or the bare value of a scalar."""
    label = instance_words(key)
    if not label:
        return format_number(value)
    return f"({label}) = {format_number(value)}" if len(key) > 1 else \
        f"{label} = {format_number(value)}"


def limit_lines(formulation: Formulation, result: SolveResult, limit: int = 8) -> list[str]:
    """The inequality constraints with no slack left, with the level they are held at.
    Rows held at zero (a link such as "ship only from open sites" with nothing shipped)
    say nothing about a scarce resource and are left out."""
    reached = []
    for name, values in result.constraints.items():
        rows = [row for row in values.rows
                if is_tight_inequality(row) and abs(row.get("activity") or 0.0) > ZERO]
        if not rows:
            continue
        where = [f"{instance_words(row.get('index') or [])} at "
                 f"{format_number(row.get('activity'))}".strip() for row in rows[:limit]]
        more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
        reached.append(f"{constraint_words(formulation, name)} ({', '.join(where)}{more})")
    if not reached:
        return []
    return ["Limits reached (no slack left): " + "; ".join(reached) + "."]


def is_tight_inequality(row: dict) -> bool:
    """An inequality row (not an equality) held exactly at one of its bounds."""
    lower, upper = row.get("lower"), row.get("upper")
    if lower is not None and upper is not None and abs(lower - upper) <= NO_SLACK:
        return False
    return abs(row.get("slack", 1.0)) < NO_SLACK
