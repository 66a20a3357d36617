"""Backends that solve through a Pyomo model: HiGHS (LP/MILP/QP) and SCIP (everything).

Both build the model with `build_pyomo_model`, solve with Pyomo's newer solver
interfaces (`pyomo.contrib.solver`: the persistent HiGHS interface and
`scip_direct`, which drives pyscipopt in-process), never let Pyomo raise on a
non-optimal outcome, and map the answer back to the user's names.
"""

from __future__ import annotations

import math
import time

import pyomo.environ as pyo

from nl2opt.errors import NotSupportedError, SolverFailedError
from nl2opt.formulation.classify import ProblemClass, classify
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.prepared import prepare, prepared_model
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.highs_direct import model_status, new_highs, raise_if_refused_by_highs
from nl2opt.solvers.limits import Watchdog
from nl2opt.solvers.pyomo_model import PyomoBuild, build_pyomo_model
from nl2opt.solvers.result import (
    ConstraintValues,
    SolveResult,
    Termination,
    VariableValues,
    relative_gap,
)

# Pyomo's TerminationCondition names -> ours; anything else is `unknown`.
_TERMINATION = {
    "convergenceCriteriaSatisfied": Termination.optimal,
    "maxTimeLimit": Termination.time_limit,
    "iterationLimit": Termination.time_limit,
    "objectiveLimit": Termination.interrupted,
    "interrupted": Termination.interrupted,
    "unbounded": Termination.unbounded,
    "provenInfeasible": Termination.infeasible,
    "locallyInfeasible": Termination.infeasible,
    "infeasibleOrUnbounded": Termination.infeasible_or_unbounded,
    "error": Termination.error,
    "licensingProblems": Termination.error,
    "emptyModel": Termination.optimal,
}
_NO_SOLUTION = (Termination.infeasible, Termination.unbounded,
                Termination.infeasible_or_unbounded)
# Errors Pyomo's translators raise for expressions a solver cannot take.
_TRANSLATION_ERRORS = (NotImplementedError, ValueError, TypeError, KeyError)


def map_termination(condition) -> Termination:
    """Pyomo's `TerminationCondition` -> nl2opt's `Termination` (unknown codes -> unknown)."""
    return _TERMINATION.get(getattr(condition, "name", str(condition)), Termination.unknown)


class _PyomoBackend:
    """Shared solve flow; subclasses say which Pyomo solver and how to read bounds."""

    name = ""
    supports: frozenset[ProblemClass] = frozenset()

    def _new_solver(self, options: SolveOptions = SolveOptions()):
        raise NotImplementedError

    def _stop(self, solver) -> None:
        """Ask a running solve to stop, keeping its best point (called from a thread)."""
        raise NotImplementedError

    def is_available(self) -> bool:
        try:
            return bool(self._new_solver().available())
        except ImportError:
            return False

    def solve(self, formulation: Formulation, options: SolveOptions = SolveOptions()
              ) -> SolveResult:
        options = options.clocked()
        self._check_class(formulation)
        build = build_pyomo_model(formulation)
        if build.always_violated:
            return SolveResult(
                termination=Termination.infeasible, solver=self.name,
                message="constraint(s) without variables are false: "
                        + ", ".join(build.always_violated[:5]))
        return self.solve_build(build, options)

    def _check_class(self, formulation: Formulation) -> None:
        problem_class = classify(formulation, prepare(formulation).complete)
        if problem_class not in self.supports:
            raise NotSupportedError(
                f"the model is {problem_class.value} but solver '{self.name}' supports only "
                f"{', '.join(sorted(c.value for c in self.supports))}; use the SCIP backend "
                "(--solver scip) instead")

    def solve_build(self, build: PyomoBuild, options: SolveOptions = SolveOptions()
                    ) -> SolveResult:
        """Solve an already built model and read the result under the user's names."""
        options = options.clocked()
        solver = self._new_solver(options)
        start = time.perf_counter()
        try:
            results, stopped = self._run(solver, build, options)
        except SolverFailedError as failure:
            return SolveResult(termination=Termination.error, solver=self.name,
                               solve_seconds=time.perf_counter() - start, message=str(failure))
        termination = self._termination(solver, results)
        if stopped and termination in (Termination.interrupted, Termination.unknown):
            termination = Termination.time_limit
        if termination is Termination.infeasible_or_unbounded:
            termination = self._disambiguate(build, options)
        seconds = time.perf_counter() - start
        has_solution = self._has_solution(solver, results, termination)
        result = SolveResult(termination=termination, has_solution=has_solution,
                             solver=self.name, solve_seconds=seconds,
                             message=results.termination_condition.name)
        if options.log:
            result.log = results.solver_log or ""
        if has_solution:
            if results.solution_status.name in ("optimal", "feasible"):
                results.solution_loader.load_vars()
            result.variables = variable_values(build)
            result.objective = _objective_value(build, results)
            result.bound, result.gap = self._bound_and_gap(solver, results, build, result)
            result.constraints = constraint_values(build, self._duals(build, results))
        elif options.diagnose and termination in (Termination.infeasible,
                                                  Termination.unbounded):
            result.diagnosis = _diagnosis(build.formulation, termination, options)
        return result

    def _run(self, solver, build: PyomoBuild, options: SolveOptions):
        """(Pyomo results, whether the watchdog had to stop the solver)."""
        try:
            with Watchdog(options.watchdog_seconds(), lambda: self._stop(solver)) as watchdog:
                results = solver.solve(build.model, load_solutions=False,
                                       raise_exception_on_nonoptimal_result=False,
                                       time_limit=options.solver_seconds(),
                                       rel_gap=options.mip_gap)
            return results, watchdog.fired
        except _TRANSLATION_ERRORS as error:
            raise NotSupportedError(f"solver '{self.name}' cannot take this model through "
                                    f"Pyomo ({type(error).__name__}: {error}); reformulate "
                                    "the expression it names or choose another solver"
                                    ) from None

    def _termination(self, solver, results) -> Termination:
        return map_termination(results.termination_condition)

    def _has_solution(self, solver, results, termination: Termination) -> bool:
        return (termination not in _NO_SOLUTION
                and results.solution_status.name in ("optimal", "feasible"))

    def _disambiguate(self, build: PyomoBuild, options: SolveOptions) -> Termination:
        """'Infeasible or unbounded': a solve with a zero objective decides which."""
        model = build.model
        build.objective.deactivate()
        model.add_component("nl2opt_feasibility_check", pyo.Objective(expr=0.0))
        try:
            check, _ = self._run(self._new_solver(options), build, options)
        except SolverFailedError:
            return Termination.infeasible_or_unbounded  # the check itself failed
        finally:
            model.del_component("nl2opt_feasibility_check")
            build.objective.activate()
        found = map_termination(check.termination_condition)
        if found is Termination.optimal:
            return Termination.unbounded
        if found is Termination.infeasible:
            return Termination.infeasible
        return Termination.infeasible_or_unbounded

    def _bound_and_gap(self, solver, results, build, result) -> tuple:
        return None, None

    def _duals(self, build: PyomoBuild, results) -> dict | None:
        return None


class PyomoHighsBackend(_PyomoBackend):
    """HiGHS through Pyomo's persistent interface: LP, MILP and convex QP."""

    name = "pyomo-highs"
    supports = frozenset({ProblemClass.LP, ProblemClass.MILP, ProblemClass.QP})

    def solve(self, formulation: Formulation, options: SolveOptions = SolveOptions()
              ) -> SolveResult:
        # HiGHS refuses a coefficient of 1e15 or more and Pyomo's interface goes on with
        # what HiGHS holds (the bakery came back "unbounded"): refused here, located.
        self._check_class(formulation)
        raise_if_refused_by_highs(new_highs(), prepared_model(formulation))
        return super().solve(formulation, options)

    def _new_solver(self, options: SolveOptions = SolveOptions()):
        from pyomo.contrib.solver.solvers.highs import Highs

        return Highs()

    def _stop(self, solver) -> None:
        # Pyomo's HiGHS interface enables HiGHS's user interrupt and runs it without the GIL.
        solver._solver_model.cancelSolve()

    def _termination(self, solver, results) -> Termination:
        # Pyomo maps HiGHS's "model empty" to unknown; it is optimal when HiGHS really
        # holds no columns (no variable used anywhere), an error otherwise.
        if _reports_empty(solver):
            return model_status(solver._solver_model)
        return super()._termination(solver, results)

    def _has_solution(self, solver, results, termination: Termination) -> bool:
        if _reports_empty(solver):
            return termination is Termination.optimal  # every variable rests at 0
        return super()._has_solution(solver, results, termination)

    def _bound_and_gap(self, solver, results, build, result) -> tuple:
        if build.has_integers:
            info = solver._solver_model.getInfo()
            return _finite(info.mip_dual_bound), _finite(info.mip_gap)
        if result.termination is Termination.optimal:
            return result.objective, 0.0
        return None, None

    def _duals(self, build: PyomoBuild, results) -> dict | None:
        if build.has_integers:
            return None
        try:
            return results.solution_loader.get_duals()
        except Exception:  # noqa: BLE001 - duals are optional (QPs, no dual solution)
            return None


class ScipBackend(_PyomoBackend):
    """SCIP (via pyscipopt) through Pyomo: every class, nonconvex NLP and MINLP included."""

    name = "scip"
    supports = frozenset(ProblemClass)

    def _new_solver(self, options: SolveOptions = SolveOptions()):
        from nl2opt.solvers.scip_run import StoppableScip

        return StoppableScip(options)

    def _stop(self, solver) -> None:
        solver.interrupt()

    def _bound_and_gap(self, solver, results, build, result) -> tuple:
        # SCIP's own gap divides by min(|primal|, |dual|), infinite at a zero bound; the
        # other backends divide by |primal|, and so does this.
        bound = _finite(results.objective_bound)
        return bound, relative_gap(result.objective, bound)


def _reports_empty(solver) -> bool:
    highs = solver._solver_model
    return highs is not None and str(highs.getModelStatus()).endswith("kModelEmpty")


# -- results under the user's names ------------------------------------------------------------
def variable_values(build: PyomoBuild) -> dict[str, VariableValues]:
    """Every variable's value in set order; variables no solver saw sit at 0 (within bounds)."""
    result = {}
    for name, part in build.variables.items():
        values = []
        for key, pyomo_key in part.keys():
            var = part.component[pyomo_key]
            values.append((list(key), _value_or_rest(var)))
        result[name] = VariableValues(name=name, index=[s.name for s in part.sets],
                                      values=values)
    return result


def constraint_values(build: PyomoBuild, duals: dict | None) -> dict[str, ConstraintValues]:
    """Activity rows like `solvers/extract.py`. The activity is Pyomo's constraint body:
    the variable side, or lhs - rhs (bounds 0) when both sides hold variables."""
    result = {}
    for name, parts in build.constraints.items():
        entry = ConstraintValues(name=name)
        for part in parts:
            for key, con in part.items():
                activity = float(pyo.value(con.body, exception=False) or 0.0)
                low = _finite(pyo.value(con.lower)) if con.has_lb() else None
                high = _finite(pyo.value(con.upper)) if con.has_ub() else None
                slack = min(activity - (low if low is not None else -math.inf),
                            (high if high is not None else math.inf) - activity)
                row = {"index": list(key), "activity": activity, "lower": low,
                       "upper": high, "slack": slack}
                if duals is not None and con in duals:
                    row["dual"] = float(duals[con])
                entry.rows.append(row)
        result[name] = entry
    return result


def _value_or_rest(var) -> float:
    if var.value is not None:
        return float(var.value)
    low, high = var.bounds
    rest = 0.0 if low is None else max(0.0, float(low))
    rest = rest if high is None else min(rest, float(high))
    var.set_value(rest, skip_validation=True)  # so the objective can be evaluated
    return rest


def _objective_value(build: PyomoBuild, results) -> float:
    """The objective evaluated at the returned point: SCIP's own figure is an auxiliary
    variable that may sit a feasibility tolerance away from it."""
    value = pyo.value(build.objective, exception=False)
    if value is None:
        value = results.incumbent_objective
    return float(value)


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and abs(value) < 1e19 else None


def _diagnosis(formulation: Formulation, termination: Termination,
               options: SolveOptions) -> str:
    """The array path's explanation, when the model is linear enough to compile there."""
    from nl2opt.errors import CompileError
    from nl2opt.formulation.arrays import compile_arrays
    from nl2opt.solvers.diagnose import diagnose

    try:
        return diagnose(compile_arrays(formulation), termination, options)
    except CompileError:
        return ""
