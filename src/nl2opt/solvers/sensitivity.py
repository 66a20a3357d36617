"""Sensitivity of an optimal linear plan: shadow prices, reduced costs and ranging.

From HiGHS's duals and `getRanging()`: for each constraint instance, what one
more unit of its limit is worth (the dual) and over which range of that limit
the price holds; for each variable, its reduced cost and the range of its
objective coefficient over which the plan stays optimal. Duals are in the
objective's own sense: a positive shadow price means one more unit of the limit
raises the objective value (better for a maximization, worse for a minimization).

A MILP has no duals; its sensitivity is that of the LP with every integer
variable fixed at its optimal value (`fixed_integers` says so), which answers
"what is one more unit worth with these yes/no choices kept". Quadratic and
nonlinear models are refused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from nl2opt.errors import Nl2OptError, NotSupportedError
from nl2opt.formulation.arrays import ArrayModel, compile_arrays
from nl2opt.formulation.model import Formulation, Sense
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.result import Termination

TOLERANCE = 1e-7
HUGE = 1e20  # HiGHS writes "no limit" as 1e30 or inf



class SensitivityError(Nl2OptError):
    """No sensitivity can be given: no optimal plan, or no duals from the solver."""


RowKind = Literal["<=", ">=", "==", "range"]


class RowSensitivity(BaseModel):
    """One constraint instance: its shadow price and the range it holds over."""

    name: str
    index: list = Field(default_factory=list)
    kind: RowKind
    activity: float
    lower: float | None = None
    upper: float | None = None
    dual: float = 0.0  # objective change per unit more of the binding limit
    binding: bool = False  # held exactly at a limit
    limit_low: float | None = None  # the binding limit may move in [limit_low, limit_high]
    limit_high: float | None = None  # ... with the same shadow price (None: no end)


class ColumnSensitivity(BaseModel):
    """One variable instance: value, reduced cost, and its cost coefficient's range."""

    name: str
    index: list = Field(default_factory=list)
    value: float
    cost: float  # its objective coefficient
    reduced_cost: float = 0.0
    cost_low: float | None = None  # the plan stays optimal for costs in [cost_low, cost_high]
    cost_high: float | None = None
    fixed: bool = False  # held at one value (an integer decision of a MILP, or lower == upper)


class Sensitivity(BaseModel):
    """Sensitivity of an optimal plan (see the module text)."""

    sense: Sense
    objective: float
    fixed_integers: bool = False  # a MILP: the LP with the integer choices fixed
    rows: list[RowSensitivity] = Field(default_factory=list)
    columns: list[ColumnSensitivity] = Field(default_factory=list)

    def row(self, name: str, *key) -> RowSensitivity:
        return next(r for r in self.rows if r.name == name and tuple(r.index) == key)

    def column(self, name: str, *key) -> ColumnSensitivity:
        return next(c for c in self.columns if c.name == name and tuple(c.index) == key)


def sensitivity(formulation: Formulation, time_limit: float | None = None) -> Sensitivity:
    """Compile, solve (the fixed-integer LP for a MILP) and range. NotSupportedError for
    quadratic or nonlinear models; SensitivityError when there is no optimal plan."""
    from nl2opt.formulation.evaluate import NonlinearTerm

    try:
        model = compile_arrays(formulation)
    except NonlinearTerm as error:
        raise NotSupportedError(f"sensitivity needs a linear model ({error})") from None
    return sensitivity_of(model, SolveOptions(time_limit=time_limit, diagnose=False))


def sensitivity_of(model: ArrayModel, options: SolveOptions | None = None) -> Sensitivity:
    """`sensitivity` for a compiled model."""
    if model.quadratic is not None and model.quadratic.nnz:
        raise NotSupportedError("sensitivity needs a linear objective; this model has a "
                                "quadratic one")
    options = (options or SolveOptions(diagnose=False)).clocked()
    fixed = bool(model.integrality.any())
    linear = _fixed_integer_lp(model, options) if fixed else model
    highs = _solved(linear, options)
    _status, ranging = highs.getRanging()
    solution = highs.getSolution()
    if not ranging.valid or not solution.dual_valid:
        raise SensitivityError("HiGHS gave no duals or ranging for this model")
    return Sensitivity(sense=model.sense, objective=float(highs.getInfo().objective_function_value),
                       fixed_integers=fixed,
                       rows=_rows(linear, np.asarray(solution.row_value),
                                  np.asarray(solution.row_dual), ranging),
                       columns=_columns(linear, np.asarray(solution.col_value),
                                        np.asarray(solution.col_dual), ranging))


def _solved(model: ArrayModel, options: SolveOptions):
    from nl2opt.solvers.highs_direct import build_highs, model_status, run_highs

    highs = build_highs(model, options)
    run_highs(highs, options)
    status = model_status(highs)
    if status is not Termination.optimal:
        raise SensitivityError(f"sensitivity needs an optimal plan; the model is {status.value}")
    return highs


def _fixed_integer_lp(model: ArrayModel, options: SolveOptions) -> ArrayModel:
    """The LP with every integer column fixed at its value in the optimal MILP plan."""
    highs = _solved(model, options)
    values = np.asarray(highs.getSolution().col_value)
    integer = model.integrality > 0
    fixed = np.where(integer, np.round(values), values)
    return replace(model, col_lower=np.where(integer, fixed, model.col_lower),
                   col_upper=np.where(integer, fixed, model.col_upper),
                   integrality=np.zeros_like(model.integrality))


def _rows(model: ArrayModel, activity: np.ndarray, duals: np.ndarray, ranging
          ) -> list[RowSensitivity]:
    low_ends, high_ends = ranging.row_bound_dn.value_, ranging.row_bound_up.value_
    rows = []
    for row in range(model.num_rows):
        name, key = model.row_label(row)
        lower, upper = _finite(model.row_lower[row]), _finite(model.row_upper[row])
        level = float(activity[row])
        binding = any(b is not None and abs(level - b) <= TOLERANCE * max(1.0, abs(b))
                      for b in (lower, upper))
        entry = RowSensitivity(name=name, index=list(key), kind=_kind(lower, upper),
                               activity=level, lower=lower, upper=upper,
                               dual=_clean(duals[row]), binding=binding)
        if binding and abs(entry.dual) > TOLERANCE:
            entry.limit_low, entry.limit_high = _finite(low_ends[row]), _finite(high_ends[row])
        rows.append(entry)
    return rows


def _columns(model: ArrayModel, values: np.ndarray, reduced: np.ndarray, ranging
             ) -> list[ColumnSensitivity]:
    low_ends, high_ends = ranging.col_cost_dn.value_, ranging.col_cost_up.value_
    columns = []
    for column in range(model.num_cols):
        name, key = model.column_label(column)
        columns.append(ColumnSensitivity(
            name=name, index=list(key), value=float(values[column]),
            cost=float(model.objective[column]), reduced_cost=_clean(reduced[column]),
            cost_low=_finite(low_ends[column]), cost_high=_finite(high_ends[column]),
            fixed=bool(model.col_lower[column] == model.col_upper[column])))
    return columns


def _kind(lower: float | None, upper: float | None) -> RowKind:
    if lower is not None and upper is not None:
        return "==" if abs(lower - upper) <= TOLERANCE else "range"
    return "<=" if upper is not None else ">="


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) and abs(value) < HUGE else None


def _clean(value) -> float:
    value = float(value)
    return 0.0 if abs(value) < 1e-12 else value
