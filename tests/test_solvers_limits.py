"""Time limits on every backend, and how a solve stopped by one is reported.

Reproduction from issue 9, item 4: a two-variable jar-design NLP ran past
`--time-limit 20` for over 200 s inside Pyomo's scip_direct. Cause: Pyomo runs SCIP's
`optimize()` (which holds the GIL) with its output captured through a pipe drained by
a Python thread; once SCIP's log filled the pipe, SCIP blocked in write() for good.

The elapsed-time assertions bound a hang, not a speed: the margin is generous for a
loaded 2-core machine.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from typer.testing import CliRunner

import nl2opt
from nl2opt.cli import app
from nl2opt.evaluation.reporting import prediction_text
from nl2opt.evaluation.runner import run_evaluation
from nl2opt.evaluation.solve_stage import SolveJob, SolvePool
from nl2opt.formulation.model import Formulation
from nl2opt.llm.scripted import ScriptedBackend
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.limits import Watchdog, watchdog_grace
from nl2opt.solvers.registry import get_backend
from nl2opt.solvers.result import SolveResult, Termination

MARGIN = 45.0  # seconds beyond limit + watchdog grace before a solve counts as hung
LIMIT = 2.0

JAR = {  # min 10 * surface of a closed cylinder holding 1000: SCIP alone needs ~8 s
    "name": "jar design",
    "variables": [{"name": "r", "lower": 0.01, "description": "radius"},
                  {"name": "h", "lower": 0.01, "description": "height"}],
    "objective": {"sense": "minimize",
                  "expression": "10 * (2 * 3.141592653589793 * r**2 "
                                "+ 2 * 3.141592653589793 * r * h)"},
    "constraints": [{"name": "volume", "expression": "3.141592653589793 * r**2 * h >= 1000"}],
}
JAR_OPTIMUM = 5535.81  # r = (500/pi)^(1/3), h = 2r


def market_split(rows: int = 5, seed: int = 1) -> Formulation:
    """Cornuejols-Dawande market split, as 'minimize the total deviation': x = 0 is
    feasible at once, and branch and bound needs hours to prove the optimum."""
    cols = 10 * (rows - 1)
    weights = np.random.default_rng(seed).integers(0, 100, size=(rows, cols))
    return Formulation.model_validate({
        "sets": [{"name": "I", "range": [1, rows]}, {"name": "J", "range": [1, cols]}],
        "parameters": [
            {"name": "a", "index": ["I", "J"],
             "table": [[i + 1, j + 1, int(weights[i, j])] for i in range(rows)
                       for j in range(cols)]},
            {"name": "d", "index": ["I"],
             "table": [[i + 1, int(weights[i].sum() // 2)] for i in range(rows)]}],
        "variables": [{"name": "x", "index": ["J"], "type": "binary"},
                      {"name": "over", "index": ["I"], "type": "integer"},
                      {"name": "under", "index": ["I"], "type": "integer"}],
        "objective": {"sense": "minimize", "expression": "sum(over[i] + under[i] for i in I)"},
        "constraints": [{"name": "split", "forall": ["i in I"],
                         "expression": "sum(a[i, j] * x[j] for j in J) + under[i] - over[i]"
                                       " == d[i]"}]})


def hang_bound(limit: float) -> float:
    return limit + watchdog_grace(limit) + MARGIN


def assert_stopped_with_point(result: SolveResult) -> None:
    assert result.termination is Termination.time_limit, result.summary()
    assert result.has_solution and result.objective is not None and result.variables
    assert result.summary().startswith(f"time limit: best found {result.objective:.10g}")


def timed(call):
    started = time.monotonic()
    value = call()
    return value, time.monotonic() - started


# -- every backend honours its limit on a model it cannot finish --------------------------

@pytest.mark.parametrize("solver", ["highs", "cpsat", "pyomo-highs", "scip"])
def test_hard_milp_stops_at_the_limit_with_the_best_point(solver):
    result, seconds = timed(lambda: nl2opt.solve_formulation(market_split(), solver=solver,
                                                              time_limit=1.0))
    assert seconds < hang_bound(1.0)
    assert_stopped_with_point(result)
    assert result.bound is not None and result.gap is not None and result.gap > 0
    assert "bound " in result.summary() and "gap " in result.summary()


def _drop_native_limit(monkeypatch, solver: str) -> None:
    """Make the solver ignore its own time limit, leaving only the watchdog."""
    if solver == "highs":
        from nl2opt.solvers import highs_direct

        original = highs_direct.set_option
        monkeypatch.setattr(highs_direct, "set_option", lambda highs, name, value: None
                            if name == "time_limit" else original(highs, name, value))
    elif solver == "cpsat":
        from nl2opt.solvers import cpsat

        original = cpsat._configure
        monkeypatch.setattr(cpsat, "_configure", lambda solver_, options, workers, seed, _:
                            original(solver_, options, workers, seed, None))
    elif solver == "scip":
        from nl2opt.solvers.scip_run import StoppableScip

        original = StoppableScip._configure

        def configure(self, scip_model, config):
            path = original(self, scip_model, config)
            scip_model.setParam("limits/time", 1e20)
            return path

        monkeypatch.setattr(StoppableScip, "_configure", configure)
    else:
        from pyomo.contrib.solver.solvers.highs import Highs

        original = Highs._solve

        def solve(self):
            self._active_config.time_limit = None
            return original(self)

        monkeypatch.setattr(Highs, "_solve", solve)


@pytest.mark.parametrize("solver", ["highs", "cpsat", "pyomo-highs", "scip"])
def test_watchdog_stops_a_solver_that_ignores_its_limit(monkeypatch, solver):
    _drop_native_limit(monkeypatch, solver)
    backend = get_backend(solver)
    result, seconds = timed(lambda: backend.solve(market_split(),
                                                  SolveOptions(time_limit=1.0)))
    assert seconds < hang_bound(1.0)
    assert seconds >= 1.0 + watchdog_grace(1.0) * 0.9  # the watchdog, not the solver, ended it
    assert_stopped_with_point(result)


def test_scip_log_volume_cannot_block_the_solve():
    """The deadlock itself: a log line per node fills a pipe within a second. Pyomo's own
    ScipDirect hangs here (checked by hand: killed after 40 s); ours stops at 3 s."""
    from nl2opt.solvers.pyomo_model import build_pyomo_model
    from nl2opt.solvers.scip_run import StoppableScip

    build = build_pyomo_model(Formulation.model_validate(JAR))
    results, seconds = timed(lambda: StoppableScip().solve(
        build.model, time_limit=3.0, load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        solver_options={"display/freq": 1, "display/verblevel": 5}))
    assert seconds < hang_bound(3.0)
    assert results.termination_condition.name in ("maxTimeLimit",
                                                  "convergenceCriteriaSatisfied")


def test_scip_log_is_kept_when_asked_for():
    result = get_backend("scip").solve(Formulation.model_validate(JAR),
                                       SolveOptions(time_limit=1.0, log=True))
    assert "SCIP Status" in result.log and "time limit" in result.log


def test_watchdog_fires_once_and_only_when_late():
    calls = []
    with Watchdog(0.05, lambda: calls.append(1)) as late:
        time.sleep(0.5)
    with Watchdog(30.0, lambda: calls.append(2)) as early:
        pass
    with Watchdog(None, lambda: calls.append(3)) as never:
        pass
    assert calls == [1] and late.fired and not early.fired and not never.fired


def test_time_limit_counts_compiling(monkeypatch):
    """A limit covers building the model too: the solver gets what is left."""
    options = SolveOptions(time_limit=10.0, started=time.monotonic() - 8.0)
    assert 1.5 < options.solver_seconds() <= 2.0
    late = SolveOptions(time_limit=10.0, started=time.monotonic() - 60.0)
    assert late.solver_seconds() == pytest.approx(0.5)  # never less than a token slice
    assert SolveOptions().solver_seconds() is None


# -- the jar NLP through every entry point ------------------------------------------------

def _jar_point_ok(values: dict) -> None:
    radius, height = values["r"], values["h"]
    assert math.pi * radius**2 * height >= 1000 * (1 - 1e-6)


def test_jar_nlp_via_cli_returns_within_the_limit_with_the_best_point(tmp_path):
    path = tmp_path / "jar.json"
    path.write_text(json.dumps(JAR))
    shown, seconds = timed(lambda: CliRunner().invoke(
        app, ["solve", str(path), "--time-limit", str(LIMIT)]))
    assert seconds < hang_bound(LIMIT)
    assert shown.exit_code == 0, shown.output
    assert "time limit: best found 5535" in shown.output and ", bound 55" in shown.output
    assert "not proven optimal" in shown.output
    assert "5.419" in shown.output and "10.83" in shown.output  # r and h of the best point


def test_jar_nlp_via_api_reports_the_best_point_and_explains_the_limit():
    report, seconds = timed(lambda: nl2opt.solve(JAR, time_limit=LIMIT))
    assert seconds < hang_bound(LIMIT)
    assert_stopped_with_point(report.result)
    assert report.result.objective == pytest.approx(JAR_OPTIMUM, rel=1e-3)
    _jar_point_ok({name: v.value() for name, v in report.result.variables.items()})
    assert report.explanation.startswith("time limit: best found 5535")
    assert "Radius — 5.42." in report.explanation and "Height — 10.84." in report.explanation


def test_jar_nlp_in_an_evaluation_worker_returns_the_best_point():
    with SolvePool(workers=1, time_limit=LIMIT) as pool:
        (outcome,), seconds = timed(lambda: pool.run([SolveJob(0, JAR, time_limit=LIMIT)]))
    assert seconds < hang_bound(LIMIT)
    assert outcome.failure is None
    assert_stopped_with_point(outcome.result)


def test_jar_nlp_evaluation_record_carries_best_point_bound_and_gap(tmp_path):
    dataset = tmp_path / "jar.jsonl"
    dataset.write_text(json.dumps({"uid": "toy/jar", "dataset": "toy", "answer": JAR_OPTIMUM,
                                   "answer_status": "optimal",
                                   "question": "Design a jar of volume 1000 ..."}) + "\n")
    from nl2opt.datasets import load_dataset
    from nl2opt.evaluation.records import RunConfig

    llm = ScriptedBackend([{"reasoning": "surface of a cylinder", "formulation": JAR}])
    config = RunConfig(dataset="toy", llm="scripted", rounds=0, time_limit=LIMIT, workers=1)
    (record,), seconds = timed(lambda: run_evaluation(load_dataset(dataset), llm, config,
                                                      tmp_path / "run"))
    assert seconds < hang_bound(LIMIT)
    assert record.status == "time_limit" and record.category == "timeout"
    assert record.objective == pytest.approx(JAR_OPTIMUM, rel=1e-3)
    assert record.bound is not None and record.gap is not None
    assert prediction_text(record).startswith("time limit: best found 5535")
