"""Why no plan exists, in plain words, and concrete repairs that each make one exist.

The conflict (HiGHS's irreducible infeasible subset) is worded from the
formulation's descriptions and units; when its limits simply add up ("the
contracts need 60 + 50 = 110 acres but only 100 exist") that sum comes first.
Then one repair per lever in the conflict: how far that one parameter (or limit)
alone must move, found by a feasibility relaxation that may move only it, and
verified by solving the changed model. Only verified repairs are offered.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydantic import BaseModel, Field

from nl2opt.analysis.edits import parameter, parameter_value, set_parameter
from nl2opt.analysis.levers import Lever, lever_of
from nl2opt.analysis.whatif import Comparison, SolveSettings, compare
from nl2opt.errors import Nl2OptError
from nl2opt.formulation.arrays import ArrayModel, compile_arrays
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.wording import (
    capitalized,
    constraint_words,
    format_number,
    instance_words,
    is_currency,
    variable_words,
    with_unit,
    words,
)
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.conflict import Conflict, Limit, find_conflict, relax_one
from nl2opt.solvers.result import SolveResult, Termination

MAX_LEVERS = 8
INTEGRALITY = ("A plan exists if the whole-number decisions may take fractions: the conflict "
               "comes from requiring whole numbers (or yes/no choices).")


class Repair(BaseModel):
    """One verified way to make the model feasible."""

    text: str  # "Raise land from 100 to 110 acres (+10 acres)"
    outcome: str = ""  # what the re-solve gives
    parameter: str = ""  # "" when the limit is no single parameter (no one-click apply)
    key: list = Field(default_factory=list)
    value: float | None = None  # the parameter's new value
    comparison: Comparison | None = None


class Infeasibility(BaseModel):
    """The conflict in words (headline first) and the repairs."""

    conflict: list[str] = Field(default_factory=list)
    repairs: list[Repair] = Field(default_factory=list)


def analyze_infeasible(formulation: Formulation, result: SolveResult | None = None,
                       settings: SolveSettings | None = None) -> Infeasibility:
    """The conflict and verified repairs of an infeasible linear model; an empty answer
    when the model cannot be compiled to arrays (nonlinear models)."""
    from nl2opt.formulation.evaluate import NonlinearTerm

    settings = settings or SolveSettings()
    try:
        model = compile_arrays(formulation)
    except (NonlinearTerm, Nl2OptError):
        return Infeasibility()
    options = SolveOptions(time_limit=settings.time_limit, diagnose=False)
    conflict = find_conflict(model, options)
    if conflict.from_integrality:
        return Infeasibility(conflict=[INTEGRALITY])
    base = result or SolveResult(termination=Termination.infeasible)
    report = Infeasibility(conflict=conflict_sentences(formulation, model, conflict))
    for limit in conflict.limits[:MAX_LEVERS]:
        repair = repair_for(formulation, model, limit, base, settings, options)
        if repair is not None:
            report.repairs.append(repair)
    return report


# -- the conflict in words ------------------------------------------------------------------
def conflict_sentences(formulation: Formulation, model: ArrayModel, conflict: Conflict
                       ) -> list[str]:
    if not conflict.limits:
        return ["The solver found no smaller set of conflicting requirements."]
    items = [_item(formulation, model, limit) for limit in conflict.limits]
    headline = _sum_headline(formulation, model, conflict)
    lines = [headline] if headline else []
    return lines + ["These requirements cannot all hold at once:"] + [f"- {i}" for i in items]


def _item(formulation: Formulation, model: ArrayModel, limit: Limit) -> str:
    unit = _unit(formulation, lever_of(formulation, model, limit))
    if limit.kind == "bound":
        name, key = model.column_label(limit.position)
        bound = _bound_value(model.col_lower, model.col_upper, limit)
        where = f" for {instance_words(key)}" if key else ""
        return (f"{capitalized(variable_words(formulation, name))}{where} must be "
                f"{_relation(limit.side)} {with_unit(bound, unit)}")
    name, key = model.row_label(limit.position)
    where = f" for {instance_words(key)}" if key else ""
    bound = _bound_value(model.row_lower, model.row_upper, limit)
    return (f"{capitalized(constraint_words(formulation, name))}{where}: "
            f"{_terms(formulation, model, limit.position)} must be {_relation(limit.side)} "
            f"{with_unit(bound, unit)}")


def _relation(side: str) -> str:
    return {"upper": "at most", "lower": "at least"}.get(side, "exactly")


def _bound_value(lower: np.ndarray, upper: np.ndarray, limit: Limit) -> float:
    return float(upper[limit.position] if limit.side == "upper" else lower[limit.position])


def _terms(formulation: Formulation, model: ArrayModel, row: int, shown: int = 6) -> str:
    start, end = model.matrix.indptr[row], model.matrix.indptr[row + 1]
    entries = list(zip(model.matrix.indices[start:end], model.matrix.data[start:end]))
    labels = [model.column_label(int(c)) for c, _ in entries]
    single = len({name for name, _ in labels}) == 1
    parts = []
    for (name, key), (_, coefficient) in list(zip(labels, entries))[:shown]:
        label = instance_words(key) if single and key else \
            f"{variable_words(formulation, name)} {instance_words(key)}".strip()
        factor = "" if abs(coefficient) == 1 else f"{format_number(abs(coefficient))} × "
        sign = "−" if coefficient < 0 else "+"
        parts.append(f"{sign} {factor}{label}")
    text = " ".join(parts).removeprefix("+ ") + (" + ..." if len(entries) > shown else "")
    if single and labels[0][1]:
        return f"{variable_words(formulation, labels[0][0])} ({text})"
    return text


def _sum_headline(formulation: Formulation, model: ArrayModel, conflict: Conflict) -> str:
    """"At least 60 (wheat) + 50 (corn) = 110 acres are required, but at most 100 acres are
    available." when the conflict is limits that simply add up: every row sums its
    columns with coefficient 1, and every column meets one upper and one lower limit."""
    uppers, lowers = _side_items(formulation, model, conflict)
    if uppers is None or not uppers or not lowers:
        return ""
    need, have = sum(v for _, v, _ in lowers), sum(v for _, v, _ in uppers)
    if need <= have:
        return ""
    unit = next((u for _, _, u in lowers + uppers if u), "")
    return (f"At least {_sum_text(lowers, unit)} are required, but at most "
            f"{_sum_text(uppers, unit)} {'are' if len(uppers) > 1 or have != 1 else 'is'} "
            "available.")


def _side_items(formulation: Formulation, model: ArrayModel, conflict: Conflict):
    """(upper items, lower items) as (label, value, unit), or (None, None) off-pattern."""
    sides: dict[int, list[str]] = {}
    items: dict[str, list] = {"upper": [], "lower": []}
    for limit in conflict.limits:
        if limit.side == "both":
            return None, None
        columns = _columns(model, limit)
        if columns is None:
            return None, None
        for column in columns:
            sides.setdefault(column, []).append(limit.side)
        unit = _unit(formulation, lever_of(formulation, model, limit))
        label = _limit_label(formulation, model, limit)
        lower, upper = (model.col_lower, model.col_upper) if limit.kind == "bound" else \
            (model.row_lower, model.row_upper)
        items[limit.side].append((label, _bound_value(lower, upper, limit), unit))
    if any(sorted(found) != ["lower", "upper"] for found in sides.values()):
        return None, None
    return items["upper"], items["lower"]


def _columns(model: ArrayModel, limit: Limit) -> list[int] | None:
    if limit.kind == "bound":
        return [limit.position]
    start, end = model.matrix.indptr[limit.position], model.matrix.indptr[limit.position + 1]
    if not np.all(model.matrix.data[start:end] == 1.0):
        return None
    return [int(c) for c in model.matrix.indices[start:end]]


def _limit_label(formulation: Formulation, model: ArrayModel, limit: Limit) -> str:
    if limit.kind == "bound":
        name, key = model.column_label(limit.position)
        return instance_words(key) or variable_words(formulation, name)
    name, key = model.row_label(limit.position)
    return instance_words(key) or constraint_words(formulation, name)


def _sum_text(items: list, unit: str) -> str:
    total = sum(value for _, value, _ in items)
    if len(items) == 1:
        return with_unit(total, unit)
    terms = " + ".join(f"{format_number(value)} ({label})" for label, value, _ in items)
    return f"{terms} = {with_unit(total, unit)}"


def _unit(formulation: Formulation, lever: Lever) -> str:
    return parameter(formulation, lever.parameter).unit.strip() if lever.parameter else ""


# -- repairs --------------------------------------------------------------------------------
def repair_for(formulation: Formulation, model: ArrayModel, limit: Limit, base: SolveResult,
               settings: SolveSettings, options: SolveOptions) -> Repair | None:
    """The verified repair that moves only `limit`, or None."""
    amount = relax_one(model, limit, options)
    if amount is None:
        return None
    lever = lever_of(formulation, model, limit)
    if lever.parameter:
        return _parameter_repair(formulation, lever, limit, amount, base, settings)
    return _limit_repair(formulation, model, limit, amount, options)


def _parameter_repair(formulation: Formulation, lever: Lever, limit: Limit, amount: float,
                      base: SolveResult, settings: SolveSettings) -> Repair | None:
    target = parameter(formulation, lever.parameter)
    old = parameter_value(formulation, lever.parameter, lever.key)
    new = round(old + amount if limit.side == "upper" else old - amount, 9)
    verb = "Raise" if new > old else "Lower"
    where = f" for {instance_words(lever.key)}" if lever.key else ""
    name = target.description.strip() or words(target.name)
    start = with_unit(old, target.unit) if is_currency(target.unit) else format_number(old)
    text = (f"{verb} {name}{where} from {start} to {with_unit(new, target.unit)} "
            f"({with_unit(new - old, target.unit, signed=True)})")
    edited = set_parameter(formulation, lever.parameter, lever.key, new)
    comparison = compare(formulation, edited, base, "repair", text, settings,
                         "With this change")
    if not comparison.feasible:
        return None
    return Repair(text=text, outcome=comparison.sentences[0], parameter=lever.parameter,
                  key=list(lever.key), value=new, comparison=comparison)


def _limit_repair(formulation: Formulation, model: ArrayModel, limit: Limit, amount: float,
                  options: SolveOptions) -> Repair | None:
    """A limit set by no single parameter: verified on the compiled model itself."""
    from nl2opt.solvers.highs_direct import HighsDirectBackend

    lower, upper = (model.col_lower, model.col_upper) if limit.kind == "bound" else \
        (model.row_lower, model.row_upper)
    old = _bound_value(lower, upper, limit)
    new = old + amount if limit.side == "upper" else old - amount
    moved = (upper if limit.side == "upper" else lower).copy()
    moved[limit.position] = new
    field = {("bound", "upper"): "col_upper", ("bound", "lower"): "col_lower",
             ("row", "upper"): "row_upper", ("row", "lower"): "row_lower"}[
        (limit.kind, limit.side)]
    result = HighsDirectBackend().solve_arrays(replace(model, **{field: moved}), options)
    if result.termination is not Termination.optimal:
        return None
    if limit.kind == "row":
        name, key = model.row_label(limit.position)
        what, edit = constraint_words(formulation, name), "edit that constraint"
    else:
        name, key = model.column_label(limit.position)
        what, edit = variable_words(formulation, name), "edit its bound"
    where = f" for {instance_words(key)}" if key else ""
    text = (f"Let {what}{where} be {_relation(limit.side)} {format_number(new)} instead of "
            f"{format_number(old)} ({edit} in the model)")
    return Repair(text=text, outcome=f"With this change a plan exists (objective "
                                     f"{format_number(result.objective)}).")
