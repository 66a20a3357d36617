"""The backend protocol: a solver declares what it can do and whether it is here.

As in JuMP/MathOptInterface, the model says what it needs (its problem class)
and each backend says what it supports; a mismatch is an error naming both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nl2opt.formulation.classify import ProblemClass
from nl2opt.formulation.model import Formulation
from nl2opt.solvers.result import SolveResult


@dataclass(frozen=True)
class SolveOptions:
    time_limit: float | None = None
    log: bool = False
    mip_gap: float | None = None
    diagnose: bool = True


class Backend(Protocol):
    name: str
    supports: frozenset[ProblemClass]

    def is_available(self) -> bool:
        """Cheap check that the solver library can be imported and run."""

    def solve(self, formulation: Formulation, options: SolveOptions) -> SolveResult:
        """Solve; infeasible and unbounded are results, not exceptions."""
