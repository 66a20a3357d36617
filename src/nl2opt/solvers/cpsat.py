"""OR-Tools CP-SAT for pure-integer linear models, fed from `ArrayModel` arrays.

CP-SAT works in exact 64-bit integer arithmetic, so the model is translated
before it is solved:

- every row (and the objective) is multiplied by the smallest integer that
  makes all its coefficients whole numbers (`classify.integer_scale`: a float
  counts as the rational p/q, q <= 10**6, that it equals exactly, so 0.25,
  0.1 and even the float 1/3 scale exactly, while sqrt(2) is refused);
  row bounds are scaled with it and rounded inwards (lower up, upper down),
  which is exact because the row activity is a whole number;
- infinite variable bounds become an artificial box of +-ARTIFICIAL_BOUND
  (shrunk when a row could otherwise overflow CP-SAT's int64 checks); a
  solution that needs that box is reported as unbounded, and the result
  message always says when the box was used.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp

from nl2opt.errors import NotSupportedError
from nl2opt.formulation.arrays import ArrayModel, compile_arrays, format_label
from nl2opt.formulation.classify import MAX_SCALE, ProblemClass, integer_scale
from nl2opt.formulation.finite import raise_if_non_finite
from nl2opt.formulation.model import Formulation, Sense, VarType
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.extract import constraint_values, variable_values
from nl2opt.solvers.limits import Watchdog, watchdog_grace
from nl2opt.solvers.result import SolveResult, Termination, relative_gap

# Stand-in for an infinite variable bound: large enough to be "no limit" for
# a real model, small enough that sums of many terms stay far from int64.
ARTIFICIAL_BOUND = 10**9
# CP-SAT refuses a linear expression whose worst-case activity may exceed
# int64_max / 2 (about 2**62, see PossibleIntegerOverflow in cp_model_checker.cc),
# and a model whose variable ranges sum beyond int64_max; keep a factor 2 margin.
ACTIVITY_LIMIT = 2**61
# Row bounds beyond this cannot be reached by any activity: same as infinite.
ROW_BOUND_CLAMP = 2**62
MAX_WORKERS = 8


@dataclass(frozen=True)
class IntegerModel:
    """An ArrayModel in whole numbers; infinite column bounds are still infinite."""

    lower: np.ndarray  # float: whole numbers or -inf
    upper: np.ndarray  # float: whole numbers or +inf
    matrix: sp.csr_matrix  # int64 coefficients, each row scaled separately
    row_lower: np.ndarray  # int64, clamped to +-ROW_BOUND_CLAMP
    row_upper: np.ndarray
    objective: np.ndarray  # int64
    objective_scale: int
    safe_bound: int  # largest artificial bound that cannot overflow

    def box(self, bound: int) -> tuple[np.ndarray, np.ndarray]:
        """Finite int64 column bounds: an infinite side sits `bound` beyond the other."""
        lower = np.where(np.isfinite(self.lower), self.lower,
                         np.minimum(np.where(np.isfinite(self.upper), self.upper, 0), 0) - bound)
        upper = np.where(np.isfinite(self.upper), self.upper,
                         np.maximum(np.where(np.isfinite(self.lower), self.lower, 0), 0) + bound)
        return lower.astype(np.int64), upper.astype(np.int64)


def to_integer_model(model: ArrayModel) -> IntegerModel:
    """Scale rows and objective to whole numbers; NotSupportedError when impossible."""
    _require_integer_columns(model)
    if model.quadratic is not None and model.quadratic.nnz:
        raise NotSupportedError("CP-SAT takes only linear objectives here, but the objective "
                                "has quadratic terms; use --solver scip")
    lower = _round_up(model.col_lower)
    upper = _round_down(model.col_upper)
    matrix, row_lower, row_upper = _scaled_rows(model)
    objective, objective_scale = _scaled_objective(model)
    safe_bound = _safe_bound(model, lower, upper, matrix, objective)
    return IntegerModel(lower, upper, matrix, row_lower, row_upper, objective, objective_scale,
                        safe_bound)


def _require_integer_columns(model: ArrayModel) -> None:
    if model.integrality.all():
        return
    names = sorted({layout.name for layout in model.variables
                    if not model.integrality[layout.offset:layout.offset + layout.size].all()})
    raise _continuous_error(names)


def _continuous_error(names: list[str]) -> NotSupportedError:
    return NotSupportedError(
        f"CP-SAT needs every variable to be integer or binary, but {', '.join(names)} "
        f"{'is' if len(names) == 1 else 'are'} continuous; use --solver highs, or declare "
        "them integer if only whole numbers make sense")


def _tolerance(values: np.ndarray) -> np.ndarray:
    # Float noise only (e.g. 0.1 * 30 = 3.0000000000000004), not a modelling tolerance:
    # some thousand units in the last place, and never near 1 even for large values.
    return np.minimum(1e-12 * np.maximum(1.0, np.abs(values)), 1e-6)


def _round_up(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values), np.ceil(values - _tolerance(values)), values)


def _round_down(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values), np.floor(values + _tolerance(values)), values)


def _scaled_rows(model: ArrayModel):
    matrix = model.matrix
    entry_rows = np.repeat(np.arange(model.num_rows), np.diff(matrix.indptr))
    scales = np.ones(model.num_rows, dtype=np.int64)
    fractional = matrix.data != np.rint(matrix.data)
    for row in np.unique(entry_rows[fractional]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        scale = integer_scale(matrix.data[start:end])
        if scale is None:
            position = start + _culprit(matrix.data[start:end])
            raise _inexact_error("constraint " + format_label(*model.row_label(int(row))),
                                 model, int(matrix.indices[position]), matrix.data[position])
        scales[row] = scale
    data = np.rint(matrix.data * scales[entry_rows])
    if data.size and np.abs(data).max() >= ACTIVITY_LIMIT:
        row = int(entry_rows[np.argmax(np.abs(data))])
        raise NotSupportedError(f"constraint {format_label(*model.row_label(row))} has a "
                                "coefficient too large for CP-SAT's 64-bit arithmetic once "
                                "made whole; rescale the data or use --solver highs")
    scaled = sp.csr_matrix((data.astype(np.int64), matrix.indices, matrix.indptr),
                           shape=matrix.shape)
    with np.errstate(invalid="ignore"):
        low = np.clip(_round_up(model.row_lower * scales), -ROW_BOUND_CLAMP, ROW_BOUND_CLAMP)
        high = np.clip(_round_down(model.row_upper * scales), -ROW_BOUND_CLAMP, ROW_BOUND_CLAMP)
    return scaled, low.astype(np.int64), high.astype(np.int64)


def _scaled_objective(model: ArrayModel) -> tuple[np.ndarray, int]:
    nonzero = np.flatnonzero(model.objective)
    scale = integer_scale(model.objective[nonzero])
    if scale is None:
        column = int(nonzero[_culprit(model.objective[nonzero])])
        raise _inexact_error("the objective", model, column, model.objective[column])
    objective = np.rint(model.objective * scale)
    if objective.size and np.abs(objective).max() >= ACTIVITY_LIMIT:
        raise NotSupportedError("the objective has a coefficient too large for CP-SAT's 64-bit "
                                "arithmetic once made whole; rescale it or use --solver highs")
    return objective.astype(np.int64), scale


def _culprit(values: np.ndarray) -> int:
    """Position of the first value that breaks `integer_scale` (inexact or lcm too big)."""
    scale = 1
    for position, value in enumerate(values):
        fraction = Fraction(float(value)).limit_denominator(10**6)
        if float(fraction) != float(value):
            return position
        scale = math.lcm(scale, fraction.denominator)
        if scale > MAX_SCALE:
            return position
    return 0


def _inexact_error(where: str, model: ArrayModel, column: int, value: float):
    variable = format_label(*model.column_label(column))
    return NotSupportedError(
        f"{where}: the coefficient {float(value)!r} of {variable} is not a fraction with a "
        f"small denominator, so no integer factor up to {MAX_SCALE:.0e} makes it whole, and "
        "CP-SAT needs whole-number coefficients; round the data (e.g. to 6 decimals) or use "
        "--solver highs")


def _safe_bound(model: ArrayModel, lower, upper, matrix: sp.csr_matrix,
                objective: np.ndarray) -> int:
    """Largest artificial bound B keeping every row, the objective and the sum of all
    variable ranges under ACTIVITY_LIMIT (each |x_j| is at most finite_j + B)."""
    finite = np.maximum(np.where(np.isfinite(lower), np.abs(lower), 0),
                        np.where(np.isfinite(upper), np.abs(upper), 0))
    open_ = (~np.isfinite(lower) | ~np.isfinite(upper)).astype(float)
    weights = sp.vstack([abs(matrix).astype(float),
                         sp.csr_matrix(np.abs(objective).astype(float)),
                         sp.csr_matrix(2.0 * np.ones(model.num_cols))]).tocsr()
    fixed_part, open_part = weights @ finite, weights @ open_
    if np.any(fixed_part >= ACTIVITY_LIMIT):
        raise NotSupportedError(_overflow_message(model, int(np.argmax(fixed_part))))
    with np.errstate(divide="ignore"):
        room = np.where(open_part > 0, (ACTIVITY_LIMIT - fixed_part) / open_part, np.inf)
    bound = float(room.min(initial=np.inf))
    if bound < 1:
        raise NotSupportedError(_overflow_message(model, int(np.argmin(room))))
    return int(min(bound, ACTIVITY_LIMIT))


def _overflow_message(model: ArrayModel, row: int) -> str:
    where = (f"constraint {format_label(*model.row_label(row))}" if row < model.num_rows
             else "the objective" if row == model.num_rows else "the variable ranges")
    return (f"{where} could exceed CP-SAT's 64-bit integer range (coefficients times variable "
            "bounds are too large); give tighter variable bounds, rescale the data, or use "
            "--solver highs")


@dataclass
class _Run:
    """One CP-SAT solve: status name, solver object, values (if any), log lines."""

    status: str
    solver: object
    values: np.ndarray | None
    log: list[str]
    invalid: str = ""
    seconds: float = 0.0  # CP-SAT's solve call only, like HiGHS' run()


def _solve_integer(integer: IntegerModel, sense: Sense, bound: int, options: SolveOptions,
                   num_workers: int, seed: int, time_limit: float | None) -> _Run:
    from ortools.sat.python import cp_model

    lower, upper = integer.box(bound)
    model = cp_model.CpModel()
    columns = [model.new_int_var(int(lo), int(hi), "") for lo, hi in zip(lower, upper)]
    matrix = integer.matrix
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        terms = cp_model.LinearExpr.weighted_sum(
            [columns[j] for j in matrix.indices[start:end]], matrix.data[start:end].tolist())
        model.add_linear_constraint(terms, int(integer.row_lower[row]),
                                    int(integer.row_upper[row]))
    nonzero = np.flatnonzero(integer.objective)
    if nonzero.size:
        expression = cp_model.LinearExpr.weighted_sum(
            [columns[j] for j in nonzero], integer.objective[nonzero].tolist())
        (model.maximize if sense is Sense.maximize else model.minimize)(expression)
    invalid = model.validate()
    if invalid:
        return _Run("MODEL_INVALID", None, None, [], invalid)
    solver = cp_model.CpSolver()
    _configure(solver, options, num_workers, seed, time_limit)
    lines: list[str] = []
    if options.log:
        solver.log_callback = lines.append
    start = time.perf_counter()
    # CP-SAT releases the GIL while it searches, so the watchdog thread can stop it.
    watchdog_seconds = None if time_limit is None else time_limit + watchdog_grace(time_limit)
    with Watchdog(watchdog_seconds, solver.stop_search):
        status = solver.status_name(solver.solve(model))
    seconds = time.perf_counter() - start
    values = None
    if status in ("OPTIMAL", "FEASIBLE"):
        values = np.asarray(solver.response_proto.solution, dtype=float)
    return _Run(status, solver, values, lines, seconds=seconds)


def _configure(solver, options: SolveOptions, num_workers: int, seed: int,
               time_limit: float | None) -> None:
    parameters = solver.parameters
    parameters.num_workers = num_workers
    parameters.random_seed = seed
    parameters.log_search_progress = bool(options.log)
    parameters.log_to_stdout = False  # keep stdout clean for --json; lines go to the log
    if time_limit is not None:
        parameters.max_time_in_seconds = max(float(time_limit), 0.0)
    if options.mip_gap is not None:
        parameters.relative_gap_limit = float(options.mip_gap)


def _termination(status: str, time_limit: float | None) -> Termination:
    # FEASIBLE and UNKNOWN mean "stopped before the end": by the time limit if one
    # was set, otherwise by something else (an interrupt or an internal limit).
    limited = time_limit is not None
    return {"OPTIMAL": Termination.optimal, "INFEASIBLE": Termination.infeasible,
            "MODEL_INVALID": Termination.error,
            "FEASIBLE": Termination.time_limit if limited else Termination.interrupted,
            "UNKNOWN": Termination.time_limit if limited else Termination.unknown,
            }.get(status, Termination.unknown)


def _at_artificial_bound(integer: IntegerModel, values: np.ndarray, bound: int) -> np.ndarray:
    lower, upper = integer.box(bound)
    return np.flatnonzero((~np.isfinite(integer.lower) & (values <= lower))
                          | (~np.isfinite(integer.upper) & (values >= upper)))


class CpSatBackend:
    """Pure-integer linear models (MILP with no continuous variables) on CP-SAT."""

    name = "cpsat"
    supports = frozenset({ProblemClass.MILP})

    def __init__(self, num_workers: int | None = None, random_seed: int = 0) -> None:
        self.num_workers = num_workers or min(MAX_WORKERS, os.cpu_count() or 1)
        self.random_seed = random_seed

    def is_available(self) -> bool:
        try:
            from ortools.sat.python import cp_model  # noqa: F401
        except ImportError:
            return False
        return True

    def solve(self, formulation: Formulation, options: SolveOptions = SolveOptions()
              ) -> SolveResult:
        continuous = [v.name for v in formulation.variables if v.type is VarType.continuous]
        if continuous:
            raise _continuous_error(continuous)
        options = options.clocked()  # compiling counts towards the time limit
        return self.solve_arrays(compile_arrays(formulation), options)

    def solve_arrays(self, model: ArrayModel, options: SolveOptions = SolveOptions()
                     ) -> SolveResult:
        options = options.clocked()
        raise_if_non_finite(model)
        integer = to_integer_model(model)
        empty = np.flatnonzero(integer.lower > integer.upper)
        if empty.size:
            return SolveResult(termination=Termination.infeasible, solver=self.name,
                               message=f"{format_label(*model.column_label(int(empty[0])))} "
                               "has no whole number between its bounds")
        bound = min(ARTIFICIAL_BOUND, integer.safe_bound)
        run = self._run(integer, model.sense, bound, options, options.solver_seconds())
        termination = _termination(run.status, options.time_limit)
        notes = []
        if run.invalid:
            notes.append(f"CP-SAT rejected the model: {run.invalid[:500]}")
        at_bound = (_at_artificial_bound(integer, run.values, bound)
                    if run.values is not None else np.zeros(0, dtype=int))
        if at_bound.size:
            termination, note = self._check_unbounded(integer, model, run, termination, bound,
                                                      at_bound, options)
            notes.append(note)
        if not np.isfinite(integer.lower).all() or not np.isfinite(integer.upper).all():
            notes.append(f"Variables without a bound were given the artificial bound +-{bound} "
                         "(CP-SAT needs finite domains)"
                         + ("; infeasibility may come from that box"
                            if termination is Termination.infeasible else "") + ".")
        result = self._result(model, integer, run, termination, run.seconds)
        result.message = " ".join([f"CP-SAT status {run.status}."] + notes)
        if options.diagnose and termination in (Termination.infeasible, Termination.unbounded):
            from nl2opt.solvers.diagnose import diagnose

            result.diagnosis = diagnose(model, termination, options)
        return result

    def _run(self, integer: IntegerModel, sense: Sense, bound: int, options: SolveOptions,
             time_limit: float | None) -> _Run:
        return _solve_integer(integer, sense, bound, options, self.num_workers,
                              self.random_seed, time_limit)

    def _check_unbounded(self, integer: IntegerModel, model: ArrayModel, run: _Run,
                         termination: Termination, bound: int, at_bound: np.ndarray,
                         options: SolveOptions) -> tuple[Termination, str]:
        """A solution touching the artificial box: solve again in a box twice as large
        (half as large if that could overflow). If the optimum moves with the box the
        model is unbounded; if not, the values at the box are incidental."""
        names = ", ".join(format_label(*model.column_label(int(c))) for c in at_bound[:5])
        names += ", ..." if at_bound.size > 5 else ""
        if run.status != "OPTIMAL":
            return termination, (f"{names} sit at the artificial bound +-{bound}: the model "
                                 "may be unbounded.")
        other = 2 * bound if 2 * bound <= integer.safe_bound else bound // 2
        again = self._run(integer, model.sense, other, SolveOptions(log=False),
                          options.solver_seconds())
        if again.status == "OPTIMAL" and (again.solver.objective_value
                                          == run.solver.objective_value):
            return Termination.optimal, (f"{names} sit at the artificial bound +-{bound}, "
                                         f"but a box of +-{other} gives the same optimum.")
        return Termination.unbounded, (
            f"The objective improves as far as the artificial bound +-{bound} allows ({names} "
            "reached it): the model is unbounded, or its optimum lies beyond that bound. Add "
            "the missing bounds or limiting constraints.")

    def _result(self, model: ArrayModel, integer: IntegerModel, run: _Run,
                termination: Termination, seconds: float) -> SolveResult:
        has_solution = run.values is not None and termination is not Termination.unbounded
        result = SolveResult(termination=termination, has_solution=has_solution,
                             solver=self.name, solve_seconds=seconds,
                             log="\n".join(run.log))
        if not has_solution:
            return result
        scale, offset = integer.objective_scale, model.objective_offset
        if integer.objective.any():
            result.objective = run.solver.objective_value / scale + offset
            result.bound = run.solver.best_objective_bound / scale + offset
        else:
            result.objective = result.bound = offset
        result.gap = relative_gap(result.objective, result.bound)
        result.variables = variable_values(model, run.values)
        result.constraints = constraint_values(model, model.matrix @ run.values, None)
        return result


def cpsat_refusal(model: ArrayModel) -> str | None:
    """Why CP-SAT cannot take this model exactly, or None when it can (all variables
    integer, linear, every coefficient integral or exactly scalable)."""
    try:
        to_integer_model(model)
    except NotSupportedError as error:
        return str(error)
    return None
