"""HiGHS, fed directly from `ArrayModel` arrays: the fast path for LP, MILP and convex QP."""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

from nl2opt.errors import CompileError, NotSupportedError
from nl2opt.formulation.arrays import ArrayModel, format_label
from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.finite import large_entry_problem, raise_if_non_finite
from nl2opt.formulation.model import Formulation, Sense
from nl2opt.formulation.prepared import prepared_model
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.extract import constraint_values, variable_values
from nl2opt.solvers.limits import Watchdog
from nl2opt.solvers.result import SolveResult, Termination

# HiGHS's primal feasibility tolerance, for rows we decide ourselves.
FEASIBILITY_TOLERANCE = 1e-7


def _highspy():
    import highspy

    return highspy


_banner_silenced = False


def new_highs():
    """A quiet `highspy.Highs`: HiGHS prints a banner on the first construction in a
    process, straight to file descriptor 1, which would corrupt `--json` output."""
    global _banner_silenced
    highspy = _highspy()
    if _banner_silenced:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highs = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_silenced = True
    return highs


def build_highs(model: ArrayModel, options: SolveOptions = SolveOptions()):
    """A `highspy.Highs` holding the model, with options applied (not yet solved).
    CompileError when HiGHS refuses any of it: a refused model leaves HiGHS empty, and
    solving that would answer a different question."""
    raise_if_non_finite(model)
    highs = new_highs()
    set_option(highs, "output_flag", False)
    raise_if_refused_by_highs(highs, model)
    pass_model(highs, model)
    apply_options(highs, options)
    return highs


def raise_if_refused_by_highs(highs, model: ArrayModel) -> None:
    """CompileError locating a constraint coefficient HiGHS would refuse: one of at least
    its option `large_matrix_value` (1e15 by default) makes `passModel` fail."""
    _, limit = highs.getOptionValue("large_matrix_value")
    problem = large_entry_problem(model, limit, (
        f"HiGHS refuses constraint coefficients of {limit:g} or more (its option "
        "large_matrix_value; SCIP takes them up to 1e20: --solver scip)"))
    if problem:
        raise CompileError(f"{problem.element}: {problem.message}")


def pass_model(highs, model: ArrayModel) -> None:
    """Hand the arrays to HiGHS through the array form of `passModel` (and `passHessian`):
    HiGHS reads the numpy buffers directly. Filling a `HighsLp` field by field instead
    makes pybind11 copy each array element by element (3x slower at 1M nonzeros)."""
    highspy = _highspy()
    matrix = model.matrix
    sense = highspy.ObjSense.kMaximize if model.sense is Sense.maximize \
        else highspy.ObjSense.kMinimize
    checked(highs.passModel(
        model.num_cols, model.num_rows, matrix.nnz, int(highspy.MatrixFormat.kRowwise),
        int(sense), model.objective_offset, as_float64(model.objective), as_float64(model.col_lower),
        as_float64(model.col_upper), as_float64(model.row_lower), as_float64(model.row_upper),
        as_int32(matrix.indptr), as_int32(matrix.indices), as_float64(matrix.data),
        as_int32(model.integrality)), "the model (passModel)")
    if model.quadratic is not None and model.quadratic.nnz:
        if model.integrality.any():
            raise NotSupportedError("HiGHS cannot solve quadratic objectives with integer "
                                    "variables (MIQP); use the SCIP backend (--solver scip)")
        start, index, value = hessian_arrays(model.quadratic)
        checked(highs.passHessian(model.num_cols, len(value),
                                  int(highspy.HessianFormat.kTriangular), start, index, value),
                "the quadratic objective (passHessian)")


def as_float64(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)  # no copy when it already is


def as_int32(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int32)


def apply_options(highs, options: SolveOptions) -> None:
    """The time left and the MIP gap, as HiGHS options."""
    seconds = options.solver_seconds()
    if seconds is not None:
        set_option(highs, "time_limit", seconds)
    if options.mip_gap is not None:
        set_option(highs, "mip_rel_gap", float(options.mip_gap))


def checked(status, what: str) -> None:
    """Raise CompileError when a highspy call returned kError (kWarning is fine)."""
    if status == _highspy().HighsStatus.kError:
        raise CompileError(f"HiGHS refused {what} with status kError; the compiled model "
                           "has entries HiGHS cannot take. Check the data for extreme values "
                           "(e.g. 1e15 or more); if it looks fine, please report this model")


def set_option(highs, name: str, value) -> None:
    checked(highs.setOptionValue(name, value), f"the option {name} = {value!r}")


def run_highs(highs, options: SolveOptions) -> tuple[object, bool]:
    """`highs.run()` (which releases the GIL) under a watchdog that cancels it shortly
    after the time limit if HiGHS has not stopped by itself; (status, watchdog fired)."""
    seconds = options.watchdog_seconds()
    if seconds is not None:
        highs.HandleUserInterrupt = True  # makes cancelSolve() reach the solver
    with Watchdog(seconds, highs.cancelSolve) as watchdog:
        status = highs.run()
    return status, watchdog.fired


def to_highs_lp(model: ArrayModel):
    """The model as a `highspy.HighsLp`, for callers that set more fields, such as the
    column and row names of an LP/MPS export. Solving passes the arrays instead
    (`pass_model`): filling these fields copies each array element by element."""
    highspy = _highspy()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = model.num_cols, model.num_rows
    lp.col_cost_, lp.offset_ = model.objective, model.objective_offset
    lp.col_lower_, lp.col_upper_ = model.col_lower, model.col_upper
    lp.row_lower_, lp.row_upper_ = model.row_lower, model.row_upper
    lp.sense_ = (highspy.ObjSense.kMaximize if model.sense is Sense.maximize
                 else highspy.ObjSense.kMinimize)
    matrix = lp.a_matrix_
    matrix.format_ = highspy.MatrixFormat.kRowwise
    matrix.num_col_, matrix.num_row_ = model.num_cols, model.num_rows
    matrix.start_, matrix.index_ = model.matrix.indptr, model.matrix.indices
    matrix.value_ = model.matrix.data
    if model.integrality.any():
        lp.integrality_ = np.where(model.integrality > 0, highspy.HighsVarType.kInteger,
                                   highspy.HighsVarType.kContinuous).tolist()
    return lp


def hessian_arrays(upper: sp.coo_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, index, value) of the lower triangle, column-wise, as HiGHS stores Q: it
    minimizes c'x + 1/2 x'Qx, so coef * x_i * x_j (i < j) is Q_ij = Q_ji = coef and
    coef * x_i^2 is Q_ii = 2 coef."""
    diagonal = upper.row == upper.col
    values = np.where(diagonal, 2.0 * upper.data, upper.data)
    lower = sp.csc_matrix((values, (upper.col, upper.row)), shape=upper.shape)
    lower.sort_indices()
    return as_int32(lower.indptr), as_int32(lower.indices), as_float64(lower.data)


def to_highs_hessian(model):
    """The quadratic objective as a `highspy.HighsHessian` (for callers that want one)."""
    highspy = _highspy()
    start, index, value = hessian_arrays(model.quadratic)
    hessian = highspy.HighsHessian()
    hessian.dim_ = model.num_cols
    hessian.format_ = highspy.HessianFormat.kTriangular
    hessian.start_, hessian.index_, hessian.value_ = start, index, value
    return hessian


class HighsDirectBackend:
    """LP / MILP / convex QP straight from arrays; no Pyomo in between."""

    name = "highs"
    supports = frozenset({ProblemClass.LP, ProblemClass.MILP, ProblemClass.QP})

    def is_available(self) -> bool:
        try:
            _highspy()
        except ImportError:
            return False
        return True

    def solve(self, formulation: Formulation, options: SolveOptions = SolveOptions()
              ) -> SolveResult:
        options = options.clocked()  # compiling counts towards the time limit
        # The model validation compiled, when it did (one compile per solve).
        return self.solve_arrays(prepared_model(formulation), options)

    def solve_arrays(self, model: ArrayModel, options: SolveOptions = SolveOptions()
                     ) -> SolveResult:
        options = options.clocked()
        if model.num_cols == 0:
            return self._without_columns(model)
        return self.solve_built(build_highs(model, options), model, options)

    def solve_built(self, highs, model: ArrayModel, options: SolveOptions) -> SolveResult:
        """Solve a `highspy.Highs` that holds `model` (built by `build_highs`, or changed
        in place by `update_highs`), and read the result under the user's names."""
        options = options.clocked()
        apply_options(highs, options)  # the time left now
        log_path = _attach_log(highs) if options.log else None
        start = time.perf_counter()
        status, stopped = run_highs(highs, options)
        if status == _highspy().HighsStatus.kError and not stopped:
            status, stopped = _run_scaled(highs, model, options) or (status, stopped)
        termination = model_status(highs)
        if stopped and termination in (Termination.interrupted, Termination.unknown):
            termination = Termination.time_limit
        if status == _highspy().HighsStatus.kError:
            termination = Termination.error
        message = highs.modelStatusToString(highs.getModelStatus())
        if log_path:
            set_option(highs, "output_flag", False)
        if termination is Termination.infeasible_or_unbounded:
            termination = _disambiguate(highs, model, options)
        result = self._result(highs, model, termination, time.perf_counter() - start, message)
        if log_path:
            result.log = read_and_remove_log(log_path)
        if options.diagnose and termination in (Termination.infeasible, Termination.unbounded):
            from nl2opt.solvers.diagnose import diagnose

            result.diagnosis = diagnose(model, termination, options)
        return result

    def _without_columns(self, model: ArrayModel) -> SolveResult:
        """No columns (every variable over an empty set): HiGHS would call the model
        "empty" and ignore its rows, each a constant 0 against its bounds. Decided here."""
        false = np.flatnonzero((model.row_lower > FEASIBILITY_TOLERANCE)
                               | (model.row_upper < -FEASIBILITY_TOLERANCE))
        if false.size:
            names = [format_label(*model.row_label(int(r))) for r in false[:5]]
            why = "constraint(s) without variables are false: " + ", ".join(names)
            return SolveResult(termination=Termination.infeasible, solver=self.name,
                               message=why, diagnosis=why)
        offset = model.objective_offset
        return SolveResult(termination=Termination.optimal, has_solution=True,
                           objective=offset, bound=offset, gap=0.0, solver=self.name,
                           message="no variables (their index sets are empty)",
                           variables=variable_values(model, np.zeros(0)),
                           constraints=constraint_values(model, np.zeros(model.num_rows), None))

    def _result(self, highs, model: ArrayModel, termination: Termination,
                seconds: float, message: str) -> SolveResult:
        highspy = _highspy()
        info = highs.getInfo()
        has_solution = (info.primal_solution_status == highspy.kSolutionStatusFeasible
                        and termination not in (Termination.infeasible, Termination.unbounded,
                                                Termination.error))
        result = SolveResult(termination=termination, has_solution=has_solution,
                             solver=self.name, solve_seconds=seconds, message=message)
        if not has_solution:
            return result
        solution = highs.getSolution()
        result.objective = float(info.objective_function_value)
        is_mip = bool(model.integrality.any())
        if is_mip:
            result.bound = _finite(info.mip_dual_bound)
            result.gap = _finite(info.mip_gap)
        else:
            result.bound = result.objective if termination is Termination.optimal else None
            result.gap = 0.0 if termination is Termination.optimal else None
        result.variables = variable_values(model, np.asarray(solution.col_value))
        duals = np.asarray(solution.row_dual) if solution.dual_valid and not is_mip else None
        result.constraints = constraint_values(model, np.asarray(solution.row_value), duals)
        return result


_MODEL_STATUS = {
    "kOptimal": Termination.optimal, "kInfeasible": Termination.infeasible,
    "kUnbounded": Termination.unbounded,
    "kUnboundedOrInfeasible": Termination.infeasible_or_unbounded,
    "kTimeLimit": Termination.time_limit, "kIterationLimit": Termination.time_limit,
    "kInterrupt": Termination.interrupted, "kSolutionLimit": Termination.interrupted,
    "kLoadError": Termination.error, "kModelError": Termination.error,
    "kPresolveError": Termination.error, "kSolveError": Termination.error,
    "kPostsolveError": Termination.error, "kMemoryLimit": Termination.error,
}


def model_status(highs) -> Termination:
    """HiGHS's model status in nl2opt's terms (unknown codes -> unknown)."""
    name = str(highs.getModelStatus()).rsplit(".", 1)[-1]
    if name == "kModelEmpty":
        # HiGHS also reports "empty" when it holds nothing because a model was refused;
        # only a model that really has no columns is solved by being empty.
        return Termination.optimal if highs.getNumCol() == 0 else Termination.error
    return _MODEL_STATUS.get(name, Termination.unknown)


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) and abs(value) < 1e19 else None


def _run_scaled(highs, model: ArrayModel, options: SolveOptions) -> tuple[object, bool] | None:
    """Run again with the objective scaled down by HiGHS: its dual simplex fails ("ratio
    test failed due to excessive dual values") on costs as small as 2e9 in a two-product
    LP and solves the same model scaled. HiGHS reports the answer in the user's units.
    None when the costs are not large or this HiGHS has no such option (before 1.10)."""
    largest = float(np.max(np.abs(model.objective), initial=0.0))
    if largest <= 1 or highs.setOptionValue("user_objective_scale", -math.ceil(
            math.log2(largest))) == _highspy().HighsStatus.kError:
        return None
    highs.clearSolver()
    try:
        return run_highs(highs, options)
    finally:
        set_option(highs, "user_objective_scale", 0)  # the instance may be solved again


def _disambiguate(highs, model: ArrayModel, options: SolveOptions) -> Termination:
    """Presolve may stop at 'infeasible or unbounded': the same HiGHS instance, re-run
    without presolve and then with a zero objective, decides. HiGHS keeps the model, so
    nothing is passed again."""
    set_option(highs, "presolve", "off")
    highs.clearSolver()
    run_highs(highs, options)
    status = model_status(highs)
    if status is not Termination.infeasible_or_unbounded:
        return status
    every = np.arange(model.num_cols, dtype=np.int32)
    checked(highs.changeColsCost(model.num_cols, every, np.zeros(model.num_cols)),
            "a zero objective")
    highs.clearSolver()
    run_highs(highs, options)
    found = model_status(highs)
    # Back to the model as it was, so the instance can be solved again (HighsSession).
    checked(highs.changeColsCost(model.num_cols, every, as_float64(model.objective)),
            "the objective")
    set_option(highs, "presolve", "choose")
    if found is Termination.optimal:
        return Termination.unbounded
    return Termination.infeasible if found is Termination.infeasible else status


def _attach_log(highs) -> str:
    handle, path = tempfile.mkstemp(prefix="nl2opt-highs-", suffix=".log")
    os.close(handle)
    set_option(highs, "output_flag", True)
    set_option(highs, "log_to_console", False)
    set_option(highs, "log_file", path)
    return path


def read_and_remove_log(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    finally:
        os.unlink(path)
