"""Pyomo's `scip_direct`, run so that SCIP always obeys its time limit and can be stopped.

Pyomo (6.10) runs pyscipopt's `Model.optimize()` inside
`capture_output(capture_fd=True)`: SCIP's log goes to a pipe that a Python thread
drains. `optimize()` holds the GIL, so that thread never runs; once the log fills the
pipe's 64 KiB, SCIP blocks in write() for good, never reaching its time check again.
That is how the jar-design NLP of issue 9 ran past `--time-limit 20` for over 200 s
while using 8 s of CPU, and why no Python thread could stop it. Here SCIP runs with
`optimizeNogil()`, writes its log to a file (only when asked for) instead of a pipe,
and gets the time left as `limits/time`; the backend's watchdog can then call
`interruptSolve()` and SCIP returns with the best point it has. An error inside SCIP
(pyscipopt raises a plain Exception, e.g. "SCIP: error in LP solver!" on unresolved
numerical trouble) becomes a `SolverFailedError`, which the backend reports as an
`error` result.
"""

from __future__ import annotations

import datetime
import os
import tempfile

from pyomo.common.timing import HierarchicalTimer
from pyomo.contrib.solver.solvers.scip.scip_direct import ScipDirect
from pyomo.core.staleflag import StaleFlagManager

from nl2opt.errors import SolverFailedError
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.highs_direct import read_and_remove_log

# At most this many variables counts as a small model (benchmark problems have a few
# dozen at most).
SMALL_MODEL_VARIABLES = 50


def tune_for_size(scip_model) -> bool:
    """Fast primal heuristics for a small model; True when applied.

    SCIP's default heuristics (sub-NLP solves with Ipopt, large-neighbourhood search)
    are sized for hard models: on the small nonlinear examples they take 70-90% of the
    time (a 4-variable NLP: 204 ms default, 71 ms with fast heuristics; the MIQP
    example 259 ms vs 26 ms). They only look for good points, so the search still ends
    only when SCIP has proved the optimum to its usual tolerances: the answer stays
    globally optimal, reached sooner."""
    from pyscipopt import SCIP_PARAMSETTING

    if scip_model.getNVars() > SMALL_MODEL_VARIABLES:
        return False
    scip_model.setHeuristics(SCIP_PARAMSETTING.FAST)
    return True


class StoppableScip(ScipDirect):
    """`ScipDirect` whose `solve` releases the GIL and never captures file descriptors."""

    def __init__(self, options: SolveOptions | None = None, **kwds) -> None:
        super().__init__(**kwds)
        self.nl2opt_options = options or SolveOptions()

    def solve(self, model, **kwds):
        # The steps of ScipDirect.solve, with the three changes above.
        started = datetime.datetime.now(datetime.timezone.utc)
        config = self.config(value=kwds, preserve_implicit=True)
        StaleFlagManager.mark_all_as_stale()
        if config.timer is None:
            config.timer = HierarchicalTimer()
        scip_model, solution_loader, has_objective = self._create_solver_model(model, config)
        log_path = self._configure(scip_model, config)
        if config.warmstart_discrete_vars:
            self._mipstart()
        config.timer.start("optimize")
        try:
            scip_model.optimizeNogil()
        except MemoryError:
            raise  # the memory cap's own path reports it
        except Exception as error:  # noqa: BLE001 - pyscipopt raises plain Exceptions
            if log_path:
                read_and_remove_log(log_path)
            raise SolverFailedError(str(error)) from None
        config.timer.stop("optimize")
        results = self._populate_results(scip_model, solution_loader, has_objective, config)
        results.solver_log = read_and_remove_log(log_path) if log_path else ""
        results.timing_info.start_timestamp = started
        results.timing_info.wall_time = (datetime.datetime.now(datetime.timezone.utc)
                                         - started).total_seconds()
        results.timing_info.timer = config.timer
        return results

    def interrupt(self) -> None:
        """Ask a running solve to stop (from another thread); SCIP keeps its best point."""
        if self._solver_model is not None:
            self._solver_model.interruptSolve()

    def _configure(self, scip_model, config) -> str | None:
        """Parameters, with the time limit taken as late as possible: what is left after
        building and translating the model. Returns the log file's path, if any."""
        scip_model.hideOutput(True)
        tune_for_size(scip_model)
        seconds = (self.nl2opt_options.solver_seconds()
                   if self.nl2opt_options.time_limit is not None else config.time_limit)
        if seconds is not None:
            scip_model.setParam("limits/time", seconds)
        if config.rel_gap is not None:
            scip_model.setParam("limits/gap", config.rel_gap)
        if config.abs_gap is not None:
            scip_model.setParam("limits/absgap", config.abs_gap)
        if config.threads is not None:
            scip_model.setParam("lp/threads", config.threads)
        for key, value in config.solver_options.items():
            scip_model.setParam(key, value)
        if not self.nl2opt_options.log:
            return None
        handle, path = tempfile.mkstemp(prefix="nl2opt-scip-", suffix=".log")
        os.close(handle)
        scip_model.setLogfile(path)
        return path

