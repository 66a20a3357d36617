"""HiGHS, fed directly from `ArrayModel` arrays: the fast path for LP, MILP and convex QP."""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

from nl2opt.errors import NotSupportedError
from nl2opt.formulation.arrays import ArrayModel, compile_arrays
from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.model import Formulation, Sense
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.extract import constraint_values, variable_values
from nl2opt.solvers.result import SolveResult, Termination


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
    """A `highspy.Highs` holding the model, with options applied (not yet solved)."""
    highs = new_highs()
    highs.setOptionValue("output_flag", False)
    highs.passModel(to_highs_lp(model))
    if model.quadratic is not None and model.quadratic.nnz:
        if model.integrality.any():
            raise NotSupportedError("HiGHS cannot solve quadratic objectives with integer "
                                    "variables (MIQP); use the SCIP backend (--solver scip)")
        highs.passHessian(to_highs_hessian(model))
    if options.time_limit is not None:
        highs.setOptionValue("time_limit", float(options.time_limit))
    if options.mip_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(options.mip_gap))
    return highs


def to_highs_lp(model: ArrayModel):
    highspy = _highspy()
    lp = highspy.HighsLp()
    lp.num_col_ = model.num_cols
    lp.num_row_ = model.num_rows
    lp.col_cost_ = model.objective
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    lp.offset_ = model.objective_offset
    lp.sense_ = (highspy.ObjSense.kMaximize if model.sense is Sense.maximize
                 else highspy.ObjSense.kMinimize)
    matrix = model.matrix
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = model.num_cols
    lp.a_matrix_.num_row_ = model.num_rows
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    if model.integrality.any():
        lp.integrality_ = np.where(model.integrality > 0, highspy.HighsVarType.kInteger,
                                   highspy.HighsVarType.kContinuous).tolist()
    return lp


def to_highs_hessian(model: ArrayModel):
    """HiGHS minimizes c'x + 1/2 x'Qx and stores Q's lower triangle column-wise."""
    highspy = _highspy()
    upper = model.quadratic
    diagonal = upper.row == upper.col
    # coef * x_i * x_j (i < j) is Q_ij = Q_ji = coef; coef * x_i^2 is Q_ii = 2 coef.
    values = np.where(diagonal, 2.0 * upper.data, upper.data)
    lower = sp.csc_matrix((values, (upper.col, upper.row)), shape=upper.shape)
    lower.sort_indices()
    hessian = highspy.HighsHessian()
    hessian.dim_ = model.num_cols
    hessian.format_ = highspy.HessianFormat.kTriangular
    hessian.start_ = lower.indptr
    hessian.index_ = lower.indices
    hessian.value_ = lower.data
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
        model = compile_arrays(formulation)
        return self.solve_arrays(model, options)

    def solve_arrays(self, model: ArrayModel, options: SolveOptions = SolveOptions()
                     ) -> SolveResult:
        highs = build_highs(model, options)
        log_path = _attach_log(highs) if options.log else None
        start = time.perf_counter()
        highs.run()
        termination = _termination(highs)
        if termination is Termination.infeasible_or_unbounded:
            termination = _disambiguate(model, options)
        result = self._result(highs, model, termination, time.perf_counter() - start)
        if log_path:
            result.log = _read_log(log_path)
        if options.diagnose and termination in (Termination.infeasible, Termination.unbounded):
            from nl2opt.solvers.diagnose import diagnose

            result.diagnosis = diagnose(model, termination)
        return result

    def _result(self, highs, model: ArrayModel, termination: Termination,
                seconds: float) -> SolveResult:
        highspy = _highspy()
        info = highs.getInfo()
        has_solution = (info.primal_solution_status == highspy.kSolutionStatusFeasible
                        and termination not in (Termination.infeasible, Termination.unbounded))
        result = SolveResult(termination=termination, has_solution=has_solution,
                             solver=self.name, solve_seconds=seconds,
                             message=highs.modelStatusToString(highs.getModelStatus()))
        if not has_solution:
            return result
        solution = highs.getSolution()
        result.objective = float(info.objective_function_value)
        is_mip = bool(model.integrality.any())
        if is_mip:
            result.bound = float(info.mip_dual_bound)
            result.gap = float(info.mip_gap)
        else:
            result.bound = result.objective if termination is Termination.optimal else None
            result.gap = 0.0 if termination is Termination.optimal else None
        result.variables = variable_values(model, np.asarray(solution.col_value))
        duals = np.asarray(solution.row_dual) if solution.dual_valid and not is_mip else None
        result.constraints = constraint_values(model, np.asarray(solution.row_value), duals)
        return result


def _termination(highs) -> Termination:
    status = highs.getModelStatus()
    status_name = str(status).rsplit(".", 1)[-1]
    mapping = {
        "kOptimal": Termination.optimal, "kInfeasible": Termination.infeasible,
        "kUnbounded": Termination.unbounded,
        "kUnboundedOrInfeasible": Termination.infeasible_or_unbounded,
        "kTimeLimit": Termination.time_limit, "kIterationLimit": Termination.time_limit,
        "kInterrupt": Termination.interrupted, "kSolutionLimit": Termination.interrupted,
        "kModelEmpty": Termination.optimal, "kLoadError": Termination.error,
        "kModelError": Termination.error, "kPresolveError": Termination.error,
        "kSolveError": Termination.error, "kPostsolveError": Termination.error,
        "kMemoryLimit": Termination.error,
    }
    return mapping.get(status_name, Termination.unknown)


def _disambiguate(model: ArrayModel, options: SolveOptions) -> Termination:
    """Presolve may stop at 'infeasible or unbounded': a zero-objective solve decides."""
    highs = build_highs(model, options)
    highs.setOptionValue("presolve", "off")
    highs.run()
    status = _termination(highs)
    if status is not Termination.infeasible_or_unbounded:
        return status
    feasibility = build_highs(model, options)
    feasibility.changeColsCost(model.num_cols, np.arange(model.num_cols, dtype=np.int32),
                               np.zeros(model.num_cols))
    feasibility.run()
    found = _termination(feasibility)
    if found is Termination.optimal:
        return Termination.unbounded
    return Termination.infeasible if found is Termination.infeasible else status


def _attach_log(highs) -> str:
    handle, path = tempfile.mkstemp(prefix="nl2opt-highs-", suffix=".log")
    os.close(handle)
    highs.setOptionValue("output_flag", True)
    highs.setOptionValue("log_to_console", False)
    highs.setOptionValue("log_file", path)
    return path


def _read_log(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    finally:
        os.unlink(path)
