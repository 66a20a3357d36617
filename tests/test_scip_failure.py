"""An error inside SCIP (pyscipopt raises a plain Exception for SCIP's return codes) is an
`error` result with SCIP's message, not an exception.

Reproduction: the synthesis `pooling` family at its largest sizes, seed 3, stops with
"SCIP: error in LP solver!" (unresolved numerical trouble in an LP) in under a second."""

from __future__ import annotations

import pytest

from nl2opt.evaluation.solve_stage import SolveJob, check_and_solve
from nl2opt.solvers.pyomo_backend import ScipBackend
from nl2opt.solvers.result import Termination
from nl2opt.solvers.scip_run import StoppableScip
from nl2opt.synthesis.families import get_family

LARGE_POOLING = {"pool_inputs": 12, "direct_inputs": 6, "products": 10}


def knapsack():
    return get_family("knapsack").generate({"items": 6}, 0)


class _FailingScip:
    """A pyscipopt Model whose optimize fails the way pyscipopt reports SCIP_LPERROR (the
    Cython class itself cannot be patched)."""

    def __init__(self, model) -> None:
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def optimizeNogil(self):
        raise Exception("SCIP: error in LP solver!")  # noqa: TRY002 - pyscipopt's own type


@pytest.fixture
def lp_error(monkeypatch):
    create = StoppableScip._create_solver_model

    def failing(self, model, config):
        scip_model, loader, has_objective = create(self, model, config)
        return _FailingScip(scip_model), loader, has_objective

    monkeypatch.setattr(StoppableScip, "_create_solver_model", failing)


def test_an_error_inside_scip_is_an_error_result(lp_error):
    result = ScipBackend().solve(knapsack())
    assert result.termination is Termination.error and not result.has_solution
    assert "SCIP: error in LP solver!" in result.message
    assert result.solver == "scip"


def test_the_evaluation_records_it_as_the_solvers_failure(lp_error):
    outcome = check_and_solve(SolveJob(1, knapsack().to_dict(), solver="scip"))
    assert outcome.result is not None and outcome.result.termination is Termination.error
    assert outcome.stage == "check" and outcome.failure is None
    [problem] = outcome.problems
    assert problem.startswith("The solver failed: SCIP: error in LP solver!")


def test_large_pooling_instance_gives_a_result(capfd):
    formulation = get_family("pooling").generate(LARGE_POOLING, 3)
    result = ScipBackend().solve(formulation)  # raised before
    assert isinstance(result.termination, Termination)
    if result.termination is Termination.error:
        assert result.message.startswith("SCIP: ")
    capfd.readouterr()  # SCIP writes its own error trace to the terminal


def test_a_solver_failure_does_not_leave_the_log_file(lp_error, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    from nl2opt.solvers.base import SolveOptions

    result = ScipBackend().solve(knapsack(), SolveOptions(log=True))
    assert result.termination is Termination.error
    assert list(tmp_path.iterdir()) == []
