"""Explain infeasible and unbounded models in the user's names.

Infeasible: an irreducible infeasible subset (IIS) from HiGHS, of the LP
relaxation for MILPs, mapped to named constraint instances and variable
bounds, plus the smallest total violation a feasibility relaxation finds.
Unbounded: the variables along an improving ray, or those with a missing
bound in the improving direction. The text is short because it is fed back to
the LLM for self-correction.
"""

from __future__ import annotations

import numpy as np

from nl2opt.formulation.arrays import ArrayModel, format_label
from nl2opt.formulation.model import Sense
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.conflict import IIS_FROM_LP_IRREDUCIBLE, without_integrality
from nl2opt.solvers.result import Termination

MAX_ITEMS = 8
_IIS_BOUND_IN = {2: "lower", 3: "upper", 4: "both"}


def diagnose(model: ArrayModel, termination: Termination,
             options: SolveOptions | None = None) -> str:
    """The explanation; each solve it needs gets what is left of the solve's time limit."""
    options = options or SolveOptions()
    try:
        if termination is Termination.infeasible:
            return explain_infeasible(model, options)
        if termination is Termination.unbounded:
            return explain_unbounded(model, options)
    except Exception as error:  # diagnosis is best effort; the solve result stands
        return f"(no diagnosis: {type(error).__name__}: {error})"
    return ""


def explain_infeasible(model: ArrayModel, options: SolveOptions | None = None) -> str:
    options = options or SolveOptions()
    lines = []
    relaxed = _relaxation(model, options)
    relaxed.run()
    from nl2opt.solvers.highs_direct import model_status

    if model.integrality.any() and model_status(relaxed) is Termination.optimal:
        lines.append("The continuous relaxation is feasible: the conflict comes from "
                     "integrality (whole-number or binary variables cannot meet the "
                     "constraints exactly).")
    else:
        lines.extend(_iis_lines(model, relaxed))
    lines.extend(_violation_lines(model, options))
    return "\n".join(lines)


def _relaxation(model: ArrayModel, options: SolveOptions):
    from nl2opt.solvers.highs_direct import build_highs

    return build_highs(without_integrality(model), options)


def _iis_lines(model: ArrayModel, highs) -> list[str]:
    # From the LP, then made irreducible: the cheap default strategy misses many IISs.
    highs.setOptionValue("iis_strategy", IIS_FROM_LP_IRREDUCIBLE)
    status, iis = highs.getIis()
    if not iis.valid_ or (len(iis.row_index_) == 0 and len(iis.col_index_) == 0):
        return ["No irreducible infeasible subset was found."]
    lines = ["These cannot all hold at once (an irreducible infeasible subset):"]
    for row, bound in list(zip(iis.row_index_, iis.row_bound_))[:MAX_ITEMS]:
        name, key = model.row_label(int(row))
        lines.append(f"- constraint {format_label(name, key)}: "
                     f"{_describe_row(model, int(row), int(bound))}")
    columns = [(c, b) for c, b in zip(iis.col_index_, iis.col_bound_) if int(b) in _IIS_BOUND_IN]
    for column, bound in columns[:MAX_ITEMS]:
        name, key = model.column_label(int(column))
        which = _IIS_BOUND_IN[int(bound)]
        low = model.col_lower[column] if which != "upper" else -np.inf
        high = model.col_upper[column] if which != "lower" else np.inf
        lines.append(f"- bound of {format_label(name, key)}: {_describe_bounds(low, high)}")
    hidden = max(len(iis.row_index_) - MAX_ITEMS, 0) + max(len(columns) - MAX_ITEMS, 0)
    if hidden > 0:
        lines.append(f"- ... and {hidden} more")
    return lines


def _describe_row(model: ArrayModel, row: int, bound: int) -> str:
    start, end = model.matrix.indptr[row], model.matrix.indptr[row + 1]
    terms = []
    for column, coefficient in zip(model.matrix.indices[start:end][:6],
                                   model.matrix.data[start:end][:6]):
        name, key = model.column_label(int(column))
        terms.append(f"{coefficient:+.6g}*{format_label(name, key)}")
    body = " ".join(terms) + (" ..." if end - start > 6 else "")
    return f"{body} {_describe_bounds(model.row_lower[row], model.row_upper[row])}".strip()


def _describe_bounds(low: float, high: float) -> str:
    if low == high:
        return f"== {low:.6g}"
    parts = []
    if np.isfinite(low):
        parts.append(f">= {low:.6g}")
    if np.isfinite(high):
        parts.append(f"<= {high:.6g}")
    return " and ".join(parts) or "free"


def _violation_lines(model: ArrayModel, options: SolveOptions) -> list[str]:
    from nl2opt.solvers.highs_direct import build_highs

    highs = build_highs(model, options)
    status = highs.feasibilityRelaxation(1.0, 1.0, 1.0)
    if str(status).endswith("kError"):
        return []
    total = highs.getInfo().objective_function_value
    solution = highs.getSolution()
    violated = _violated_rows(model, np.asarray(solution.row_value))
    lines = [f"Smallest total violation that makes the model feasible: {total:.6g}."]
    if violated:
        lines.append("Relaxing these would suffice: " + "; ".join(violated[:MAX_ITEMS]) + ".")
    return lines


def _violated_rows(model: ArrayModel, activity: np.ndarray, tolerance: float = 1e-7) -> list:
    below = model.row_lower - activity
    above = activity - model.row_upper
    found = []
    for row in np.flatnonzero((below > tolerance) | (above > tolerance))[:MAX_ITEMS]:
        name, key = model.row_label(int(row))
        amount = max(below[row], above[row])
        found.append(f"{format_label(name, key)} by {amount:.6g}")
    return found


def explain_unbounded(model: ArrayModel, options: SolveOptions | None = None) -> str:
    direction = 1.0 if model.sense is Sense.maximize else -1.0
    improving = direction * model.objective
    loose = [column for column in np.flatnonzero(improving != 0)
             if (improving[column] > 0 and not np.isfinite(model.col_upper[column]))
             or (improving[column] < 0 and not np.isfinite(model.col_lower[column]))]
    ray = _primal_ray(model, options or SolveOptions())
    lines = ["The objective can improve without limit."]
    if ray is not None:
        moving = np.flatnonzero(np.abs(ray) > 1e-9)[:MAX_ITEMS]
        lines.append("Along this direction every constraint stays satisfied: "
                     + ", ".join(f"{format_label(*model.column_label(int(c)))} "
                                 f"{'increases' if ray[c] > 0 else 'decreases'}"
                                 for c in moving) + ".")
    if loose:
        names = sorted({model.column_label(int(c))[0] for c in loose})
        lines.append("Variables with no bound in the improving direction: "
                     + ", ".join(names)
                     + ". Add the missing upper/lower bounds or limiting constraints.")
    return "\n".join(lines)


def _primal_ray(model: ArrayModel, options: SolveOptions) -> np.ndarray | None:
    highs = _relaxation(model, options)
    highs.setOptionValue("presolve", "off")
    highs.run()
    _status, exists, ray = highs.getPrimalRay()
    if not exists:
        return None
    return np.asarray(ray)
