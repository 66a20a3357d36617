"""Non-finite numbers (NaN, or an infinity where none makes sense) as located problems.

A solver handed such a number does not fail loudly: HiGHS refuses the model, is left
with an empty one and reports "model empty" (once read as optimal), accepts an infinite
cost and answers anyway, and SCIP turns an infinite coefficient into a wrong verdict.
The expression evaluators already refuse arithmetic that gives a non-finite number;
what they never see is checked here: numbers written straight into bounds and scalar
parameters, data reaching nonlinear expressions (which are not evaluated before the
solve), and the compiled arrays a backend is about to pass on, whose coefficients
must also stay below what the solvers can take: HiGHS and SCIP read 1e20 or more as
infinite (SCIP stops with "error in input data" on such a constraint coefficient), and from a
cost of 1e19 on the objective soon reaches that infinity: HiGHS's dual simplex fails
("Solve error") and SCIP calls the model unbounded. HiGHS alone also refuses constraint
coefficients of 1e15 or more, which its backend checks (`large_entry_problem`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nl2opt.errors import CompileError
from nl2opt.formulation import expr as E
from nl2opt.formulation.model import Formulation

if TYPE_CHECKING:
    from nl2opt.formulation.arrays import ArrayModel
    from nl2opt.formulation.data import ModelData
    from nl2opt.formulation.parsed import ParsedFormulation

_FIX = "give a finite number (null for no bound)"
# HiGHS (kHighsInf) and SCIP read any number this large as infinite.
SOLVER_INFINITY = 1e20
# Objective coefficients from here on fail in both solvers (measured on the bakery LP:
# HiGHS "Solve error", SCIP "unbounded"), as the objective reaches SOLVER_INFINITY.
LARGE_COST = 1e19
_RESCALE = "rescale the data (e.g. count money in millions or weights in tonnes)"


@dataclass(frozen=True)
class NonFinite:
    """One located problem: the formulation element and what is wrong there."""

    element: str
    message: str


def bound_problem(label: str, lower: float | None, upper: float | None) -> str:
    """Why bounds (lower, upper) of `label` are unusable, or '' when they are fine.
    -inf below and +inf above mean "no bound"; NaN or the opposite infinities do not."""
    for side, value, wrong in (("lower", lower, math.inf), ("upper", upper, -math.inf)):
        if value is None:
            continue
        if math.isnan(value):
            return f"the {side} bound of {label} is nan (not a number); {_FIX}"
        if value == wrong:
            return (f"the {side} bound of {label} is {value}, which no value can meet; "
                    f"{_FIX}")
    return ""


def literal_problems(formulation: Formulation) -> list[NonFinite]:
    """NaN or misplaced infinities written as numbers in bounds and scalar parameters."""
    problems = []
    for variable in formulation.variables:
        literal = [b if isinstance(b, (int, float)) else None
                   for b in (variable.lower, variable.upper)]
        message = bound_problem(variable.name, *literal)
        if message:
            problems.append(NonFinite(f"variable '{variable.name}'", message))
    for param in formulation.parameters:
        for field in ("value", "default"):
            number = getattr(param, field)
            if isinstance(number, float) and math.isnan(number):
                problems.append(NonFinite(f"parameter '{param.name}'",
                                          f"'{field}' is nan (not a number); give a number"))
    return problems


def nonlinear_data_problems(parsed: ParsedFormulation, data: ModelData) -> list[NonFinite]:
    """Parameters holding an infinity that appear in the objective or a constraint of a
    nonlinear model. Linear models need no such check: their compiler refuses every
    non-finite coefficient as it computes it."""
    infinite = {name: param for name, param in data.params.items()
                if np.isinf(param.values).any()}
    if not infinite:
        return []
    problems = []
    texts = [parsed.objective] + [c.relation for c in parsed.constraints]
    for text in texts:
        for name in sorted(E.names_in(text.tree) & set(infinite)):
            problems.append(NonFinite(text.element, (
                f"parameter '{name}' is infinite ({_where_infinite(infinite[name], data)}); "
                "nonlinear expressions need finite data: give a number, or leave out the "
                "limit it stands for")))
    return problems


def _where_infinite(param, data: ModelData) -> str:
    if not param.index:
        return f"its value is {float(param.values)}"
    position = tuple(int(p) for p in np.argwhere(np.isinf(param.values))[0])
    key = tuple(data.sets[s].elements[p] for s, p in zip(param.index, position))
    return f"{list(key)} is {float(param.values[position])}"


def array_problems(model: ArrayModel) -> list[NonFinite]:
    """Non-finite entries of compiled arrays, located under the user's names."""
    from nl2opt.formulation.arrays import format_label

    problems = []
    for layout in model.variables:
        block = slice(layout.offset, layout.offset + layout.size)
        lower, upper = model.col_lower[block], model.col_upper[block]
        bad = np.flatnonzero(np.isnan(lower) | np.isnan(upper) | (lower == np.inf)
                             | (upper == -np.inf))
        if bad.size:
            column = layout.offset + int(bad[0])
            label = format_label(*model.column_label(column))
            problems.append(NonFinite(f"variable '{layout.name}'", bound_problem(
                label, float(model.col_lower[column]), float(model.col_upper[column]))))
    problems += _objective_problems(model)
    problems += _row_problems(model)
    return problems


def _objective_problems(model: ArrayModel) -> list[NonFinite]:
    from nl2opt.formulation.arrays import format_label

    if not math.isfinite(model.objective_offset):
        return [NonFinite("objective", f"the constant term is {model.objective_offset}; "
                          "give finite data")]
    bad = np.flatnonzero(~np.isfinite(model.objective))
    if bad.size:
        label = format_label(*model.column_label(int(bad[0])))
        return [NonFinite("objective", f"the coefficient of {label} is "
                          f"{model.objective[bad[0]]}; give finite data")]
    huge = np.flatnonzero(np.abs(model.objective) >= LARGE_COST)
    if huge.size:
        label = format_label(*model.column_label(int(huge[0])))
        return [NonFinite("objective", f"the coefficient of {label} is "
                          f"{model.objective[huge[0]]:g}, too large for the solvers: the "
                          "objective soon reaches 1e20, and HiGHS and SCIP read 1e20 or more "
                          "as infinite (HiGHS's simplex fails, SCIP calls the model "
                          f"unbounded); give a value below {LARGE_COST:g} or {_RESCALE}")]
    quadratic = model.quadratic
    if quadratic is not None and not np.isfinite(quadratic.data).all():
        return [NonFinite("objective", "a quadratic coefficient is not finite; give finite "
                          "data")]
    return []


def _row_problems(model: ArrayModel) -> list[NonFinite]:
    from nl2opt.formulation.arrays import format_label

    matrix = model.matrix
    huge = large_entry_problem(model, SOLVER_INFINITY, "HiGHS and SCIP read 1e20 or more "
                               "as infinite")
    if huge:
        return [huge]
    bad_entries = ~np.isfinite(matrix.data)
    bad_sides = (np.isnan(model.row_lower) | np.isnan(model.row_upper)
                 | (model.row_lower == np.inf) | (model.row_upper == -np.inf))
    if not bad_entries.any() and not bad_sides.any():
        return []
    entry_rows = np.repeat(np.arange(model.num_rows), np.diff(matrix.indptr))
    bad_rows = np.concatenate([entry_rows[bad_entries], np.flatnonzero(bad_sides)])
    row = int(bad_rows.min())
    name, key = model.row_label(row)
    return [NonFinite(f"constraint '{name}'", f"{format_label(name, key)} has a coefficient "
                      "or side that is not a finite number (or an infinity no value can "
                      "meet); give finite data")]


def large_entry_problem(model: ArrayModel, limit: float, why: str) -> NonFinite | None:
    """The first finite constraint coefficient of at least `limit` in magnitude, located
    by constraint and variable with `why` that is too large, or None."""
    from nl2opt.formulation.arrays import format_label

    data = model.matrix.data
    large = np.flatnonzero(np.isfinite(data) & (np.abs(data) >= limit))
    if not large.size:
        return None
    entry = int(large[0])
    row = int(np.searchsorted(model.matrix.indptr, entry, side="right")) - 1
    name, key = model.row_label(row)
    column = format_label(*model.column_label(int(model.matrix.indices[entry])))
    return NonFinite(f"constraint '{name}'", (
        f"in {format_label(name, key)} the coefficient of {column} is {data[entry]:g}, too "
        f"large: {why}; {_RESCALE} so coefficients stay below {limit:g}"))


def raise_if_non_finite(model: ArrayModel) -> None:
    """CompileError naming the first non-finite entry: a last check before a solver."""
    problems = array_problems(model)
    if problems:
        raise CompileError("; ".join(f"{p.element}: {p.message}" for p in problems[:3]))
