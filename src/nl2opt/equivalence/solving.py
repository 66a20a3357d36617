"""Solving instances with HiGHS: the optimum, and distinct optima on the optimal face.

Several distinct optimal points are what make verification hard to fool: after
the optimum value z* is known, the objective is pinned (c'x within a hair of
z*) and the model is re-solved with random cost directions, each landing on a
different vertex of the optimal face when there is more than one.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nl2opt.equivalence.instance import InstanceModel

FACE_TOLERANCE = 1e-9
# Width of the near-optimal band, as a fraction of the larger optimal value (at least 1):
# wide enough to reach other vertices, so a map that holds on the optimum only shows.
NEAR_OPTIMAL_FRACTION = 0.1
# Wall-clock deadline (time.monotonic) shared by every solve of one comparison.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline",
                                                                       default=None)


_CUT_SHORT: contextvars.ContextVar[list | None] = contextvars.ContextVar("cut_short",
                                                                        default=None)


@contextlib.contextmanager
def time_budget(seconds: float | None):
    """Within the block, no solve runs past `seconds` from now (None: no budget). Yields
    a list that gets an entry for every solve stopped by a time limit."""
    cut_short: list = []
    token = _DEADLINE.set(None if seconds is None else time.monotonic() + seconds)
    flag = _CUT_SHORT.set(cut_short)
    try:
        yield cut_short
    finally:
        _DEADLINE.reset(token)
        _CUT_SHORT.reset(flag)


def _note_cut_short(reason: str) -> None:
    record = _CUT_SHORT.get()
    if record is not None:
        record.append(reason)


@dataclass
class Solution:
    status: str  # optimal | infeasible | unbounded | unsupported | error
    x: np.ndarray | None = None
    objective: float | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "optimal" and self.x is not None


@dataclass(frozen=True)
class ExtraRows:
    """Rows added for one solve: lower <= matrix @ x <= upper."""

    matrix: sp.csr_matrix
    lower: np.ndarray
    upper: np.ndarray


def solve(model: InstanceModel, *, cost: np.ndarray | None = None,
          extra: list[ExtraRows] | None = None, time_limit: float = 30.0) -> Solution:
    """Optimize `model` (own objective), or minimize `cost @ x` over its feasible set."""
    from nl2opt.solvers.highs_direct import new_highs

    if cost is None and model.has_quadratic and model.integer.any():
        return Solution("unsupported", message="HiGHS cannot solve MIQP models")
    deadline = _DEADLINE.get()
    if deadline is not None:
        time_limit = min(time_limit, deadline - time.monotonic())
        if time_limit <= 0:
            _note_cut_short("budget")
            return Solution("error", message="the time budget is used up")
    highs = new_highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit))
    highs.setOptionValue("mip_rel_gap", 1e-9)
    highs.setOptionValue("mip_feasibility_tolerance", 1e-9)
    _pass_model(highs, model, cost, extra or [])
    if cost is None and model.has_quadratic:
        highs.passHessian(_hessian(model))
    highs.run()
    name = str(highs.getModelStatus()).rsplit(".", 1)[-1]
    if name == "kOptimal":
        x = np.asarray(highs.getSolution().col_value, dtype=float)
        return Solution("optimal", x, model.objective_value(x))
    if name in ("kInfeasible",):
        return Solution("infeasible")
    if name in ("kUnbounded", "kUnboundedOrInfeasible"):
        return Solution("unbounded" if name == "kUnbounded" else "infeasible_or_unbounded")
    if name in ("kTimeLimit", "kIterationLimit"):
        _note_cut_short("time limit")
    if name == "kModelEmpty":
        return Solution("optimal", np.zeros(0), model.offset)
    return Solution("error", message=highs.modelStatusToString(highs.getModelStatus()))


def _pass_model(highs, model: InstanceModel, cost, extra: list[ExtraRows]) -> None:
    """The model (plus `extra` rows, with `cost` in place of its objective) through the
    array form of passModel: HiGHS reads the numpy buffers, no element-by-element copy."""
    import highspy

    from nl2opt.solvers.highs_direct import as_float64, as_int32

    matrix = sp.vstack([model.matrix] + [e.matrix for e in extra]).tocsr() if extra \
        else model.matrix
    row_lower = np.concatenate([model.row_lower] + [e.lower for e in extra])
    row_upper = np.concatenate([model.row_upper] + [e.upper for e in extra])
    maximize = cost is None and model.maximize
    sense = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    costs = model.objective if cost is None else cost
    highs.passModel(
        model.num_cols, matrix.shape[0], matrix.nnz, int(highspy.MatrixFormat.kRowwise),
        int(sense), float(model.offset) if cost is None else 0.0, as_float64(costs),
        as_float64(model.lower), as_float64(model.upper), as_float64(row_lower),
        as_float64(row_upper), as_int32(matrix.indptr), as_int32(matrix.indices),
        as_float64(matrix.data), as_int32(np.asarray(model.integer, dtype=bool)))


def _hessian(model: InstanceModel):
    from nl2opt.solvers.highs_direct import to_highs_hessian

    class _Holder:  # to_highs_hessian only reads .quadratic and .num_cols
        quadratic = model.quadratic
        num_cols = model.num_cols

    return to_highs_hessian(_Holder)


def optimal_face(model: InstanceModel, optimum: float, slack: float = 0.0) -> ExtraRows:
    """The row pinning the (linear) objective at `optimum` (+ `slack` worse)."""
    width = FACE_TOLERANCE * max(1.0, abs(optimum)) + abs(slack)
    target = optimum - model.offset
    lower, upper = (target - width, np.inf) if model.maximize else (-np.inf, target + width)
    return ExtraRows(sp.csr_matrix(model.objective.reshape(1, -1)), np.array([lower]),
                     np.array([upper]))


def sample_optima(model: InstanceModel, base: Solution, directions: list[np.ndarray],
                  time_limit: float = 30.0) -> list[np.ndarray]:
    """Optimal points: the base optimum, then one per cost direction on the optimal face
    (quadratic objectives: only the base optimum). Duplicates are dropped."""
    points = [base.x]
    if model.has_quadratic:
        return points
    face = optimal_face(model, base.objective)
    for direction in directions:
        found = solve(model, cost=direction, extra=[face], time_limit=time_limit)
        if found.ok:
            points.append(found.x)
    return distinct(points)


def near_optimal_width(optima: list[Solution]) -> float:
    """The band above the optimum (same for both models of a comparison) in which
    near-optimal points are drawn."""
    largest = max([abs(s.objective) for s in optima if s.objective is not None], default=0.0)
    return NEAR_OPTIMAL_FRACTION * max(1.0, largest)


def sample_near_optimal(model: InstanceModel, base: Solution, width: float,
                        directions: list[np.ndarray], time_limit: float = 30.0
                        ) -> tuple[list[np.ndarray], bool]:
    """Feasible points whose objective is at most `width` worse than the optimum, one
    per cost direction (unbounded directions give none), and whether every solve
    finished. None for quadratic objectives: the band would need a quadratic row."""
    if model.has_quadratic:
        return [], True
    band = optimal_face(model, base.objective, slack=width)
    found = [solve(model, cost=d, extra=[band], time_limit=time_limit) for d in directions]
    finished = all(f.status in ("optimal", "unbounded", "infeasible_or_unbounded")
                   for f in found)
    return distinct([f.x for f in found if f.ok]), finished


def distinct(points: list[np.ndarray], tol: float = 1e-7) -> list[np.ndarray]:
    kept: list[np.ndarray] = []
    for p in points:
        if all(np.max(np.abs(p - q), initial=0.0) > tol * (1 + np.max(np.abs(q), initial=0.0))
               for q in kept):
            kept.append(p)
    return kept


def random_directions(size: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=size) for _ in range(count)]
