"""The backend protocol: a solver declares what it can do and whether it is here.

As in JuMP/MathOptInterface, the model says what it needs (its problem class)
and each backend says what it supports; a mismatch is an error naming both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Protocol

from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.model import Formulation
from nl2opt.solvers.limits import remaining_seconds, watchdog_grace
from nl2opt.solvers.result import SolveResult


@dataclass(frozen=True)
class SolveOptions:
    time_limit: float | None = None
    log: bool = False
    mip_gap: float | None = None
    diagnose: bool = True
    # time.monotonic() when the time limit began to run (compiling counts too);
    # None until a backend (or `solve`) starts the clock.
    started: float | None = None

    def clocked(self) -> SolveOptions:
        """These options with the clock running: started now unless already started."""
        return self if self.started is not None else replace(self, started=time.monotonic())

    def solver_seconds(self) -> float | None:
        """The time limit to hand the solver: what is left of it (None: no limit)."""
        return remaining_seconds(self.time_limit, self.started)

    def watchdog_seconds(self) -> float | None:
        """When a watchdog started now should stop a solver that ignores its limit."""
        seconds = self.solver_seconds()
        return None if seconds is None else seconds + watchdog_grace(seconds)


class Backend(Protocol):
    name: str
    supports: frozenset[ProblemClass]

    def is_available(self) -> bool:
        """Cheap check that the solver library can be imported and run."""

    def solve(self, formulation: Formulation, options: SolveOptions) -> SolveResult:
        """Solve; infeasible and unbounded are results, not exceptions."""
