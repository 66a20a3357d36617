""""What if ...?" and "why not ...?": re-solve an edited model and compare with the plan.

A what-if changes one parameter (one entry, or all of them); a why-not adds the
condition the user asks about (e.g. "x['cake'] >= 15") as a constraint. Both
solve the edited model with the same solver and time limit and report the
difference in the user's words: the objective before and after (the cost of the
alternative) and the decisions that moved.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from nl2opt.analysis.edits import (
    EditError,
    add_condition,
    parameter,
    parameter_value,
    set_parameter,
)
from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Formulation, Sense
from nl2opt.formulation.wording import (
    infer_units,
    instance_words,
    objective_words,
    variable_words,
    with_unit,
    words,
)
from nl2opt.solvers.result import SolveResult, Termination

ZERO = 1e-9


class MovedValue(BaseModel):
    """A decision whose value differs between the two plans."""

    label: str
    before: float | None = None
    after: float | None = None


class Comparison(BaseModel):
    """A solver-backed answer to a what-if, why-not or repair question."""

    tool: Literal["what_if", "why_not", "repair"]
    question: str  # what was changed, in words
    formulation: dict  # the edited model
    after: dict  # its SolveResult, as JSON data
    objective_before: float | None = None
    objective_after: float | None = None
    termination: str = ""
    sentences: list[str] = Field(default_factory=list)
    moved: list[MovedValue] = Field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return self.termination == Termination.optimal.value


class SolveSettings(BaseModel):
    solver: str | None = None
    time_limit: float | None = 60.0


def what_if(formulation: Formulation, name: str, key: tuple | None, value: float,
            base: SolveResult | None = None, settings: SolveSettings | None = None
            ) -> Comparison:
    """Set parameter `name[key]` (every entry when key is empty) to `value` and re-solve."""
    target = parameter(formulation, name)
    key = tuple(key or ())
    where = f" for {instance_words(key)}" if key else (" (every entry)" if target.index else "")
    old = parameter_value(formulation, name, key) if (key or not target.index) else None
    label = f"{target.description.strip() or words(name)}{where}"
    changed = (f"{label}: {with_unit(old, target.unit)} → {with_unit(value, target.unit)}"
               if old is not None else f"{label} set to {with_unit(value, target.unit)}")
    edited = set_parameter(formulation, name, key or None, value)
    return compare(formulation, edited, base, "what_if", changed, settings,
                   f"With {label} at {with_unit(value, target.unit)}")


def why_not(formulation: Formulation, condition: str, description: str = "",
            base: SolveResult | None = None, settings: SolveSettings | None = None
            ) -> Comparison:
    """Require `condition` (a constraint in the formulation's language) and re-solve."""
    asked = description.strip() or condition.strip()
    edited = add_condition(formulation, condition, description)
    return compare(formulation, edited, base, "why_not", f"Require: {asked}", settings,
                   f"Requiring {asked}")


def compare(formulation: Formulation, edited: Formulation, base: SolveResult | None,
            tool, question: str, settings: SolveSettings | None, lead: str) -> Comparison:
    """Solve `edited` (and `formulation`, unless its result is given) and compare."""
    from nl2opt.solvers.solve import solve

    settings = settings or SolveSettings()
    try:
        base = base or solve(formulation, settings.solver, settings.time_limit)
        after = solve(edited, settings.solver, settings.time_limit)
    except Nl2OptError as error:
        raise EditError(f"the changed model cannot be solved: {error}") from None
    comparison = Comparison(tool=tool, question=question, formulation=edited.to_dict(),
                            after=after.model_dump(mode="json"),
                            objective_before=base.objective, objective_after=after.objective,
                            termination=after.termination.value,
                            moved=moved_values(formulation, base, after))
    comparison.sentences = outcome_sentences(formulation, base, after, lead)
    return comparison


def outcome_sentences(formulation: Formulation, base: SolveResult, after: SolveResult,
                      lead: str) -> list[str]:
    """"With X, the best profit is $1,414.29 (+$385.71 against now)." or why there is none."""
    what = objective_words(formulation)
    unit = infer_units(formulation).objective
    if after.termination is not Termination.optimal or after.objective is None:
        reason = {"infeasible": "no plan meets every requirement",
                  "unbounded": "the objective could improve without limit",
                  "error": f"the solver stopped with an error ({after.message})"}
        why = reason.get(after.termination.value, after.termination.value)
        return [f"{lead}, there is no best plan: {why}."]
    sentence = f"{lead}, the best {what} is {with_unit(after.objective, unit)}"
    if base.objective is None:
        return [sentence + "."]
    delta = after.objective - base.objective
    if abs(delta) <= 1e-9 * max(1.0, abs(base.objective)):
        return [sentence + ", the same as now: it costs nothing."]
    better = (delta > 0) == (formulation.objective.sense is Sense.maximize)
    verdict = "better than now" if better else "worse than now: that is its cost"
    return [f"{sentence} ({with_unit(delta, unit, signed=True)}, {verdict})."]


def moved_values(formulation: Formulation, before: SolveResult, after: SolveResult,
                 limit: int = 40) -> list[MovedValue]:
    """Decisions whose value changed (by more than a rounding error), in model order."""
    old, new = _values(formulation, before), _values(formulation, after)
    moved = []
    for label in dict.fromkeys([*old, *new]):
        a, b = old.get(label), new.get(label)
        if a is not None and b is not None and abs(a - b) <= 1e-7 * max(1.0, abs(a)):
            continue
        if (a is None or abs(a) < ZERO) and (b is None or abs(b) < ZERO):
            continue
        moved.append(MovedValue(label=label, before=a, after=b))
    return moved[:limit]


def _values(formulation: Formulation, result: SolveResult) -> dict[str, float]:
    if not result.has_solution:
        return {}
    values = {}
    for variable in result.variables.values():
        described = variable_words(formulation, variable.name)
        for key, value in variable.values:
            label = f"{described}: {instance_words(key)}" if key else described
            values[label] = float(value)
    return values

