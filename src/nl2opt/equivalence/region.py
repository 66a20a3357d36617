"""Region check: does the map carry the source's feasible region onto the target's?

Optima (and near-optima) of the given objective cannot see a constraint that only
cuts points far from every optimum: `max x + y` over the square with `x + y <= 10`
has the same optima with or without `x + y >= 5`, yet one is a wrong formulation
of the other. So a map g (x = M y + d, source y to target x) that carries optima
must also carry the feasible region: g(F_source) = F_target. Two convex sets are
equal when their support functions are, so for a few cost directions c in the
target's variables both minima are compared, inside a box around the target's
optimum (which keeps every direction bounded and applies to both models alike):

    min c.x over F_target  vs  min (M^T c).y + c.d over F_source with g(y) in the box.

A lower source value gives a source point whose image is infeasible in the target;
a lower target value gives a target point that is the image of no source point
(a pinned solve confirms it). For MILP the minima are those of the integer points,
so the convex hulls of the two integer sets are compared. Solver noise never
refutes: only a point the target's rows reject, or a pinned solve found
infeasible, is a counterexample.

Directions, at most MAX_DIRECTIONS (each two solves, a third to confirm): first
the sides (rows and bounds) that one model has and the other, through the map,
does not (the suspects), then the objective turned around (a constraint that only
binds for the other objective direction), then random directions (seeded).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nl2opt.equivalence.instance import InstanceModel
from nl2opt.equivalence.maps import AffineMap
from nl2opt.equivalence.solving import ExtraRows, Solution, random_directions, solve
from nl2opt.equivalence.verify import (
    FEASIBILITY_TOLERANCE,
    held_sides,
    holds_side,
    is_permutation,
    mapped_counterexample,
    model_sides,
    uncovered_problem,
)

MAX_DIRECTIONS = 10  # cost directions per map checked: at most ~20 solves
RANDOM_DIRECTIONS = 4  # of them, at least this many random ones
VALUE_TOLERANCE = 1e-6  # relative to |c| . |x|: minima closer than this agree
BOX_FACTOR = 10.0  # box half-width: this times the largest magnitude of the optimum


def region_problem(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
                   target_optimum: Solution, seed: int = 0) -> dict | None:
    """None if the sampled directions find g(F_source) and F_target alike, else a
    counterexample (kind region_soundness / region_coverage) or an inconclusive note."""
    lower, upper = _box(target, target_optimum)
    box = ExtraRows(sp.identity(target.num_cols, format="csr"), lower, upper)
    pulled = ExtraRows(mapping.matrix.tocsr(), lower - mapping.shift, upper - mapping.shift)
    for cost in directions(mapping, target, source, seed):
        problem = _compare(mapping, target, source, cost, box, pulled)
        if problem is not None:
            return problem
    return None


def _box(target: InstanceModel, optimum: Solution) -> tuple[np.ndarray, np.ndarray]:
    """The optimum +- a radius that also takes in every finite bound of the target, so
    the box never hides a source point beyond a target bound (integer columns get
    integer box bounds)."""
    finite = np.concatenate([np.abs(optimum.x), np.abs(target.lower[np.isfinite(
        target.lower)]), np.abs(target.upper[np.isfinite(target.upper)])])
    radius = BOX_FACTOR * (1.0 + np.max(finite, initial=0.0))
    lower, upper = optimum.x - radius, optimum.x + radius
    lower = np.where(target.integer, np.ceil(lower - 1e-9), lower)
    upper = np.where(target.integer, np.floor(upper + 1e-9), upper)
    return lower, upper


def directions(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
               seed: int) -> list[np.ndarray]:
    """Cost vectors in the target's variables (minimized), suspects first."""
    suspects, unknown = _suspect_sides(mapping, target, source)
    turned = target.objective if target.maximize else -target.objective
    chosen = _unique([*suspects, turned, *unknown], MAX_DIRECTIONS - RANDOM_DIRECTIONS)
    randoms = random_directions(target.num_cols, MAX_DIRECTIONS - len(chosen), seed)
    return chosen + randoms


def _suspect_sides(mapping: AffineMap, target: InstanceModel, source: InstanceModel
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(directions crossing a side one model has and the other lacks, directions along
    a source side whose bound in the target's variables is unknown)."""
    matrix, shift = mapping.matrix.tocsr(), mapping.shift
    suspects, unknown = [], []
    held_by_source, held_by_target = held_sides(source), held_sides(target)
    for coefficients, lower, upper in model_sides(target):  # a_t . g(y), exact
        moved = (coefficients @ matrix).tocsr()
        moved.eliminate_zeros()
        if not moved.nnz:  # a constant there: the optima checks saw it
            continue
        offset = float((coefficients @ shift)[0])
        for bound, side in ((upper, "upper"), (lower, "lower")):
            if np.isfinite(bound) and not holds_side(held_by_source, moved, bound - offset,
                                                     side):
                suspects.append(_crossing(coefficients, side))
    exact = is_permutation(matrix)
    for coefficients, lower, upper in model_sides(source):  # a_s M^T: exact if permuting
        moved = (coefficients @ matrix.T).tocsr()
        moved.eliminate_zeros()
        if not moved.nnz:
            continue
        offset = -float((moved @ shift)[0])
        for bound, side in ((upper, "upper"), (lower, "lower")):
            if not np.isfinite(bound):
                continue
            if not exact:
                unknown.append(_crossing(moved, side))
            elif not holds_side(held_by_target, moved, bound - offset, side):
                suspects.append(_crossing(moved, side))
    return suspects, unknown


def _crossing(coefficients: sp.csr_matrix, side: str) -> np.ndarray:
    """The cost (minimized) pushing across a side: up for an upper side, down for a
    lower one."""
    row = coefficients.toarray().ravel()
    return -row if side == "upper" else row


def _unique(costs: list[np.ndarray], limit: int) -> list[np.ndarray]:
    kept: list[np.ndarray] = []
    for cost in costs:
        size = np.max(np.abs(cost), initial=0.0)
        if size == 0 or any(np.allclose(cost / size, k) for k in kept):
            continue
        kept.append(cost / size)
        if len(kept) == limit:
            break
    return kept


def _compare(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
             cost: np.ndarray, box: ExtraRows, pulled: ExtraRows) -> dict | None:
    """Both minima of `cost` (target variables) inside the box; a confirmed
    disagreement is a counterexample."""
    in_target = solve(target, cost=cost, extra=[box])
    in_source = solve(source, cost=mapping.matrix.T @ cost, extra=[pulled])
    if in_target.status == "optimal" and in_source.status == "infeasible":
        return uncovered_problem(mapping, target, source, in_target.x)
    if not (in_target.ok and in_source.ok):
        return _inconclusive(target, source, in_target, in_source)
    image = mapping.apply(in_source.x)
    value_target, value_source = float(cost @ in_target.x), float(cost @ image)
    scale = max(1.0, float(np.abs(cost) @ np.abs(in_target.x)),
                float(np.abs(cost) @ np.abs(image)))
    if value_source < value_target - VALUE_TOLERANCE * scale:
        return _outside(target, source, in_source.x, image)
    if value_target < value_source - VALUE_TOLERANCE * scale:
        return uncovered_problem(mapping, target, source, in_target.x)
    return None


def _outside(target: InstanceModel, source: InstanceModel, y: np.ndarray,
             image: np.ndarray) -> dict | None:
    """A feasible source point whose image the target rejects (None: only noise)."""
    problems = target.violations(image, FEASIBILITY_TOLERANCE)[:5]
    if not problems:
        return None
    return mapped_counterexample("region_soundness", f"a feasible point of {source.source} "
                                 f"maps to a point that is not feasible in {target.source}: "
                                 "the feasible regions differ", target, source, y, image,
                                 problems)


def _inconclusive(target: InstanceModel, source: InstanceModel, in_target: Solution,
                  in_source: Solution) -> dict:
    return {"kind": "inconclusive",
            "explanation": f"the region check could not be solved ({target.source}: "
                           f"{in_target.status} {in_target.message}; {source.source}: "
                           f"{in_source.status} {in_source.message})".replace("  ", " ")}
