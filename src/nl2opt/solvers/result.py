"""One result vocabulary for every solver backend.

Two axes, as in PyOptInterface and linopy: why the solver stopped
(`Termination`) and whether a feasible point comes with the result
(`has_solution`). Unknown native codes map to `Termination.unknown`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class Termination(str, Enum):
    optimal = "optimal"
    infeasible = "infeasible"
    unbounded = "unbounded"
    infeasible_or_unbounded = "infeasible_or_unbounded"
    time_limit = "time_limit"
    interrupted = "interrupted"
    error = "error"
    unknown = "unknown"


class VariableValues(BaseModel):
    """Values of one (possibly indexed) variable under the user's element names."""

    name: str
    index: list[str] = Field(default_factory=list)
    values: list[tuple[list, float]] = Field(
        default_factory=list, description="(index elements, value) pairs; [] for scalars")

    def as_dict(self) -> dict:
        """{(elements...): value}, or {(): value} for a scalar variable."""
        return {tuple(key): value for key, value in self.values}

    def value(self, *key) -> float:
        return self.as_dict()[tuple(key)]


class ConstraintValues(BaseModel):
    """Activity, slack and dual of each instance of a constraint."""

    name: str
    rows: list[dict[str, Any]] = Field(
        default_factory=list,
        description="{index, activity, lower, upper, slack, dual}; dual only for LPs")


class SolveResult(BaseModel):
    """Everything a solve produced, in the user's names."""

    termination: Termination
    has_solution: bool = False
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    variables: dict[str, VariableValues] = Field(default_factory=dict)
    constraints: dict[str, ConstraintValues] = Field(default_factory=dict)
    solver: str = ""
    solve_seconds: float = 0.0
    message: str = ""
    diagnosis: str = ""
    log: str = ""

    def value(self, variable: str, *key) -> float:
        """The value of `variable[key...]`, e.g. result.value("x", "chair")."""
        return self.variables[variable].value(*key)

    @property
    def stopped_with_point(self) -> bool:
        """The time limit stopped the solve, and the best point found comes with it."""
        return (self.termination is Termination.time_limit and self.has_solution
                and self.objective is not None)

    def limit_text(self) -> str:
        """`time_limit_text` for a solve the time limit stopped; '' for other results."""
        if self.termination is not Termination.time_limit:
            return ""
        objective = self.objective if self.stopped_with_point else None
        return time_limit_text(objective, self.bound, self.gap)

    def summary(self) -> str:
        timing = f"({self.solver}, {self.solve_seconds:.3f} s)"
        if self.termination is Termination.time_limit:
            return f"{self.limit_text()} {timing}"
        head = f"{self.termination.value} {timing}"
        if self.objective is not None:
            head += f": objective = {self.objective:.10g}"
        return head


def time_limit_text(objective: float | None, bound: float | None, gap: float | None) -> str:
    """How every report words a solve stopped by its time limit: 'time limit: best found
    X, bound Y, gap Z%' (the gap relative, in percent), or that no point was found."""
    if objective is None:
        return "time limit: no feasible point found in time"
    bound_text = "unknown" if bound is None else f"{bound:.10g}"
    gap_text = "unknown" if gap is None else f"{100 * gap:.3g}%"
    return f"time limit: best found {objective:.10g}, bound {bound_text}, gap {gap_text}"


def relative_gap(objective: float, bound: float | None) -> float | None:
    """|objective - bound| / |objective|, as HiGHS reports mip_gap (None when unknown)."""
    if bound is None:
        return None
    if objective == bound:
        return 0.0
    return abs(objective - bound) / abs(objective) if objective != 0 else None
