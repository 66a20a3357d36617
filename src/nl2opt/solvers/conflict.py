"""Why a model is infeasible, as data: the conflicting limits, and how far each must move.

`find_conflict` returns HiGHS's irreducible infeasible subset (IIS; of the LP
relaxation for a MILP) as row and column-bound positions with the side that
conflicts. `relax_one` asks HiGHS's feasibility relaxation how far one limit
alone would have to move for a feasible plan to exist, every other limit held
fixed. Wording is left to `nl2opt.analysis.infeasibility`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from nl2opt.formulation.arrays import ArrayModel
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.result import Termination

IIS_FROM_LP_IRREDUCIBLE = 2 | 4  # kIisStrategyFromLp | kIisStrategyIrreducible
_SIDES = {2: "lower", 3: "upper", 4: "both"}
TOLERANCE = 1e-7

Side = Literal["lower", "upper", "both"]


@dataclass(frozen=True)
class Limit:
    """One row or one column bound of a conflict."""

    kind: Literal["row", "bound"]
    position: int  # row or column number in the ArrayModel
    side: Side


@dataclass(frozen=True)
class Conflict:
    limits: tuple[Limit, ...]
    from_integrality: bool = False  # the LP relaxation is feasible: whole numbers conflict

    @property
    def rows(self) -> list[Limit]:
        return [limit for limit in self.limits if limit.kind == "row"]

    @property
    def bounds(self) -> list[Limit]:
        return [limit for limit in self.limits if limit.kind == "bound"]


def find_conflict(model: ArrayModel, options: SolveOptions | None = None) -> Conflict:
    """The IIS of the model's LP relaxation (empty when HiGHS finds none)."""
    from nl2opt.solvers.highs_direct import build_highs, model_status

    options = options or SolveOptions(diagnose=False)
    relaxed = build_highs(without_integrality(model), options)
    relaxed.run()
    if model.integrality.any() and model_status(relaxed) is Termination.optimal:
        return Conflict((), from_integrality=True)
    relaxed.setOptionValue("iis_strategy", IIS_FROM_LP_IRREDUCIBLE)
    _status, iis = relaxed.getIis()
    if not iis.valid_:
        return Conflict(())
    rows = [Limit("row", int(r), _SIDES.get(int(b), "both"))
            for r, b in zip(iis.row_index_, iis.row_bound_)]
    bounds = [Limit("bound", int(c), _SIDES[int(b)])
              for c, b in zip(iis.col_index_, iis.col_bound_) if int(b) in _SIDES]
    return Conflict(tuple(rows + bounds))


def without_integrality(model: ArrayModel) -> ArrayModel:
    return replace(model, integrality=np.zeros_like(model.integrality), quadratic=None)


def relax_one(model: ArrayModel, limit: Limit, options: SolveOptions | None = None
              ) -> float | None:
    """How far `limit` alone must move (up for an upper side, down for a lower side) for
    the model to become feasible; None when moving it alone cannot help."""
    from nl2opt.solvers.highs_direct import build_highs

    highs = build_highs(model, options or SolveOptions(diagnose=False))
    lower = np.full(model.num_cols, -1.0)  # a negative penalty: this limit must hold
    upper = np.full(model.num_cols, -1.0)
    rhs = np.full(model.num_rows, -1.0)
    if limit.kind == "row":
        rhs[limit.position] = 1.0
    elif limit.side == "upper":
        upper[limit.position] = 1.0
    else:
        lower[limit.position] = 1.0
    highs.feasibilityRelaxation(-1.0, -1.0, -1.0, lower, upper, rhs)
    solution = highs.getSolution()
    if not solution.value_valid:
        return None
    amount = _violation(model, limit, np.asarray(solution.col_value),
                        np.asarray(solution.row_value))
    return amount if amount > TOLERANCE else None


def _violation(model: ArrayModel, limit: Limit, columns: np.ndarray, rows: np.ndarray) -> float:
    if limit.kind == "row":
        value, low, high = rows[limit.position], model.row_lower, model.row_upper
    else:
        value, low, high = columns[limit.position], model.col_lower, model.col_upper
    below = low[limit.position] - value
    above = value - high[limit.position]
    return float(max(below if limit.side != "upper" else 0.0,
                     above if limit.side != "lower" else 0.0))
