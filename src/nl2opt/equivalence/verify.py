"""Verification, the part that decides: does a map carry optima to optima?

For a map g from the source model's variables to the target's:

* soundness: every sampled optimum y of the source (several distinct ones, from
  objective perturbations on the optimal face) maps to a point g(y) that is
  feasible in the target and reaches the target's optimal value;
* coverage: every sampled optimum x of the target is reached: the source, with
  g(y) = x added as constraints, still attains its own optimal value.

Both must hold for every sample. A failure gives a concrete counterexample in
user names. Samples are drawn independently of how the map was found, so a map
fitted to (or guessed for) a few points cannot pass by coincidence.

Optima alone cannot tell a reformulation from a coincidence: when both models
have a single optimum, *any* map sending one onto the other passes (a model and
the same model without constraints, with matched columns shifted by the optimum).
So a map that passes on optima must also hold on *near-optimal* points (objective
within a band above the optimum): each one of the source maps to a feasible point
of the target, and each one of the target is the image of a feasible point of the
source. Equivalence asks for the same feasible region up to the map (see
`region.py` for the rest of the region), so a failure there is a counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from nl2opt.equivalence.instance import InstanceModel
from nl2opt.equivalence.maps import AffineMap
from nl2opt.equivalence.solving import (
    ExtraRows,
    Solution,
    distinct,
    near_optimal_width,
    optimal_face,
    random_directions,
    sample_near_optimal,
    solve,
)

OBJECTIVE_TOLERANCE = 1e-6
FEASIBILITY_TOLERANCE = 1e-6
MAX_DIRECTED = 100  # solves pushing one model's optima against the other's sides


@dataclass
class Verification:
    passed: bool
    soundness_checked: int = 0
    coverage_checked: int = 0
    counterexample: dict | None = None
    notes: list[str] = field(default_factory=list)


def objective_matches(value: float, optimum: float) -> bool:
    return abs(value - optimum) <= OBJECTIVE_TOLERANCE * max(1.0, abs(optimum))


class NearOptimal:
    """Near-optimal points of the models of one comparison, drawn on first use."""

    def __init__(self, optima: list[Solution], count: int = 8, seed: int = 0) -> None:
        self.width = near_optimal_width(optima)
        self.count, self.seed = count, seed
        self._drawn: dict[int, tuple[InstanceModel, list[np.ndarray], bool]] = {}

    def points(self, model: InstanceModel, optimum: Solution) -> tuple[list[np.ndarray], bool]:
        """(points, whether every solve finished) for `model`."""
        if id(model) not in self._drawn:
            directions = random_directions(model.num_cols, self.count,
                                           self.seed + len(self._drawn))
            self._drawn[id(model)] = (model, *sample_near_optimal(model, optimum, self.width,
                                                                  directions))
        return self._drawn[id(model)][1:]


def verify_map(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
               target_optimum: Solution, source_optimum: Solution,
               target_samples: list[np.ndarray], source_samples: list[np.ndarray],
               near: NearOptimal | None = None) -> Verification:
    """Check soundness on `source_samples`, coverage of `target_samples`, then both on
    near-optimal points (`near`: shared between the candidates of one comparison)."""
    if not mapping.complete:
        missing = [target.names[k] for k in np.flatnonzero(~mapping.defined)][:5]
        note = (f"the map leaves {int((~mapping.defined).sum())} variable(s) of "
                f"{target.source} undefined, e.g. {', '.join(missing)}")
        return Verification(False, notes=[note])
    result = Verification(True)
    _check_optima(result, mapping, target, source, target_optimum, source_optimum,
                  source_samples, target_samples)
    if result.passed:  # then the optima pushed against the other model's constraints
        _check_optima(result, mapping, target, source, target_optimum, source_optimum,
                      *directed_samples(mapping, target, source, target_optimum,
                                        source_optimum))
    if not result.passed:
        return result
    near = near or NearOptimal([target_optimum, source_optimum])
    (source_points, source_done), (target_points, target_done) = \
        near.points(source, source_optimum), near.points(target, target_optimum)
    problem = near_optimal_problem(mapping, target, source, source_points, target_points)
    if problem is None and not (source_done and target_done):
        problem = {"kind": "inconclusive", "explanation": (
            "some near-optimal points could not be drawn (a solve failed or hit the time "
            "limit), so the map is checked on the optima only")}
    record_problem(result, problem)
    return result


def record_problem(result: Verification, problem: dict | None) -> None:
    """A failed check fails the map: a counterexample, or a note when inconclusive."""
    if problem is None:
        return
    result.passed = False
    if problem["kind"] == "inconclusive":
        result.notes.append(problem["explanation"])
    else:
        result.counterexample = problem


def _check_optima(result: Verification, mapping: AffineMap, target: InstanceModel,
                  source: InstanceModel, target_optimum: Solution, source_optimum: Solution,
                  source_samples: list[np.ndarray], target_samples: list[np.ndarray]) -> None:
    """Soundness on the source's optima, then coverage of the target's; the first failure
    goes into `result`."""
    for y in source_samples:
        result.soundness_checked += 1
        problem = soundness_problem(mapping, target, source, target_optimum, y)
        if problem is not None:
            result.passed = False
            result.counterexample = problem
            return
    for x in target_samples:
        result.coverage_checked += 1
        problem = coverage_problem(mapping, target, source, source_optimum, x)
        if problem is not None and problem["kind"] == "inconclusive":
            result.passed = False
            result.notes.append(problem["explanation"])
            return
        if problem is not None:
            result.passed = False
            result.counterexample = problem
            return


def directed_samples(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
                     target_optimum: Solution, source_optimum: Solution
                     ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(source optima, target optima) pushed against the other model's rows and bounds
    through the map: source optima as far as they go into each target row (soundness),
    target optima into each source row (coverage). Random directions rarely reach a
    constraint that cuts a small part off a large optimal face (60 columns with
    sum(x) <= 10, and x[2] <= 9 in one model only). A side the pushed model has itself
    (the same row, as tight) cannot be crossed, so it costs no solve."""
    matrix, shift = mapping.matrix.tocsr(), mapping.shift
    # a_t . g(y) = (a_t M) . y + a_t . shift: exact. Into the target, a_s M^T is exact for
    # permutation maps (y = M^T (x - shift)) and a direction worth trying otherwise.
    into_source = _carried(target, matrix, lambda a: float((a @ shift)[0]))
    permutation = is_permutation(matrix)
    into_target = _carried(source, matrix.T.tocsr(),
                           lambda a: -float((a @ matrix.T @ shift)[0]) if permutation else None)
    return (_pushed(source, source_optimum, into_source),
            _pushed(target, target_optimum, into_target))


def is_permutation(matrix: sp.csr_matrix) -> bool:
    return (matrix.shape[0] == matrix.shape[1] and matrix.nnz == matrix.shape[0]
            and bool(np.all(matrix.data == 1.0)) and len(set(matrix.indices)) == matrix.nnz)


def model_sides(model: InstanceModel):
    """(coefficients as a sparse 1 x columns row, lower, upper) of each row, then of each
    column's bounds."""
    rows = model.matrix.tocsr()
    for row in range(model.num_rows):
        yield rows[row], model.row_lower[row], model.row_upper[row]
    for column in range(model.num_cols):
        unit = sp.csr_matrix(([1.0], ([0], [column])), shape=(1, model.num_cols))
        yield unit, model.lower[column], model.upper[column]


def _carried(model: InstanceModel, carry: sp.csr_matrix, constant):
    """(coefficients in the other model's columns, the side's bound there or None when
    unknown, 'upper' or 'lower') for each finite side of `model`."""
    for coefficients, lower, upper in model_sides(model):
        moved = (coefficients @ carry).tocsr()
        moved.eliminate_zeros()
        if not moved.nnz:
            continue
        offset = constant(coefficients)
        for bound, side in ((upper, "upper"), (lower, "lower")):
            if np.isfinite(bound):
                yield moved, None if offset is None else bound - offset, side


def _pushed(model: InstanceModel, optimum: Solution, carried) -> list[np.ndarray]:
    """The optima of `model` that go furthest across each carried side it does not hold
    (at most MAX_DIRECTED solves)."""
    if model.has_quadratic:
        return []
    held = held_sides(model)
    face = optimal_face(model, optimum.objective)
    found = []
    for coefficients, bound, side in carried:
        if bound is not None and holds_side(held, coefficients, bound, side):
            continue
        cost = coefficients.toarray().ravel()
        found.append(solve(model, cost=-cost if side == "upper" else cost, extra=[face]))
        if len(found) >= MAX_DIRECTED:
            break
    return distinct([f.x for f in found if f.ok])


def _key(coefficients: sp.csr_matrix) -> tuple[tuple, float]:
    """A sparse row scaled so its largest magnitude is 1 (a hashable key), and the scale
    (negative when the row was flipped)."""
    coefficients.sort_indices()
    data = coefficients.data
    scale = float(data[np.argmax(np.abs(data))])
    return (tuple(coefficients.indices), tuple(np.round(data / scale, 9))), scale


def held_sides(model: InstanceModel) -> dict:
    """key -> (tightest lower, tightest upper) of the scaled rows and bounds `model` has."""
    held: dict = {}
    for coefficients, lower, upper in model_sides(model):
        coefficients = coefficients.tocsr()
        coefficients.eliminate_zeros()
        if not coefficients.nnz:
            continue
        key, scale = _key(coefficients)
        low, high = (lower / scale, upper / scale) if scale > 0 else (upper / scale,
                                                                     lower / scale)
        known = held.get(key, (-np.inf, np.inf))
        held[key] = (max(known[0], low), min(known[1], high))
    return held


def holds_side(held: dict, coefficients: sp.csr_matrix, bound: float, side: str) -> bool:
    key, scale = _key(coefficients)
    if key not in held:
        return False
    low, high = held[key]
    scaled = bound / scale
    if (side == "upper") == (scale > 0):
        return high <= scaled + FEASIBILITY_TOLERANCE * max(1.0, abs(scaled))
    return low >= scaled - FEASIBILITY_TOLERANCE * max(1.0, abs(scaled))


def near_optimal_problem(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
                         source_points: list[np.ndarray], target_points: list[np.ndarray]
                         ) -> dict | None:
    """None if near-optimal points of the source map to feasible points of the target and
    near-optimal points of the target are images of feasible points of the source, else
    a counterexample (the feasible regions differ) or an inconclusive note."""
    for y in source_points:
        x = mapping.apply(y)
        problems = target.violations(x, FEASIBILITY_TOLERANCE)[:5]
        if problems:
            return mapped_counterexample(
                "region_soundness", f"a near-optimal point of {source.source} maps to a "
                f"point that is not feasible in {target.source}: the feasible regions "
                "differ", target, source, y, x, problems)
    for x in target_points:
        problem = uncovered_problem(mapping, target, source, x, "a near-optimal point")
        if problem is not None:
            return problem
    return None


def uncovered_problem(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
                      x: np.ndarray, what: str = "a feasible point") -> dict | None:
    """None if `x` (feasible in the target) is the image of a feasible source point, else
    a region_coverage counterexample, or an inconclusive note when the solve failed."""
    found = solve(source, cost=np.zeros(source.num_cols), extra=[pinned_rows(mapping, x)])
    if found.ok:
        return None
    if found.status != "infeasible":
        return {"kind": "inconclusive", "explanation": f"checking {what} of {target.source} "
                f"failed ({found.status} {found.message})"}
    return {"kind": "region_coverage",
            "explanation": f"{what} of {target.source} is the image of no feasible point "
                           f"of {source.source}: the feasible regions differ",
            "target_model": target.source, "target_point": target.point(x),
            "target_objective": target.objective_value(x),
            "problems": [f"no feasible solution of {source.source} maps onto it"]}


def pinned_rows(mapping: AffineMap, x: np.ndarray) -> ExtraRows:
    """The rows g(y) = x, within the feasibility tolerance."""
    wanted = x - mapping.shift
    width = FEASIBILITY_TOLERANCE * (1.0 + np.abs(wanted))
    return ExtraRows(sp.csr_matrix(mapping.matrix), wanted - width, wanted + width)


def soundness_problem(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
                      target_optimum: Solution, y: np.ndarray) -> dict | None:
    """None if g(y) is optimal in the target, else a counterexample."""
    x = mapping.apply(y)
    problems = target.violations(x, FEASIBILITY_TOLERANCE)[:5]
    value = target.objective_value(x)
    if not problems and not objective_matches(value, target_optimum.objective):
        problems.append(f"objective of {target.source} is {value:.10g} at the mapped point, "
                        f"but its optimum is {target_optimum.objective:.10g}")
    if not problems:
        return None
    return mapped_counterexample("soundness", f"an optimal solution of {source.source} maps "
                                 f"to a point that is not optimal in {target.source}",
                                 target, source, y, x, problems)


def mapped_counterexample(kind: str, explanation: str, target: InstanceModel,
                          source: InstanceModel, y: np.ndarray, x: np.ndarray,
                          problems: list[str]) -> dict:
    """A counterexample made of a source point y and its image x = g(y)."""
    return {"kind": kind, "explanation": explanation,
            "source_model": source.source, "source_point": source.point(y),
            "source_objective": source.objective_value(y),
            "target_model": target.source, "mapped_point": target.point(x),
            "mapped_objective": target.objective_value(x), "problems": problems}


def coverage_problem(mapping: AffineMap, target: InstanceModel, source: InstanceModel,
                     source_optimum: Solution, x: np.ndarray) -> dict | None:
    """None if some optimum y of the source has g(y) = x, else a counterexample."""
    found = solve(source, extra=[pinned_rows(mapping, x)])
    if found.ok and objective_matches(found.objective, source_optimum.objective):
        return None
    if found.status not in ("optimal", "infeasible"):
        return {"kind": "inconclusive",
                "explanation": f"coverage check could not be solved ({found.status} "
                               f"{found.message})"}
    if found.ok:
        reason = (f"the best solution of {source.source} that maps onto it has objective "
                  f"{found.objective:.10g}, not the optimum {source_optimum.objective:.10g}")
    else:
        reason = f"no feasible solution of {source.source} maps onto it ({found.status})"
    return {"kind": "coverage",
            "explanation": f"an optimal solution of {target.source} is not the image of any "
                           f"optimal solution of {source.source}",
            "target_model": target.source, "target_point": target.point(x),
            "target_objective": target.objective_value(x), "problems": [reason]}


def status_counterexample(a: InstanceModel, b: InstanceModel, sa: Solution, sb: Solution
                          ) -> dict:
    """Different solve outcomes (e.g. optimal vs infeasible) are a counterexample by
    themselves."""
    solved, other, solution, other_status = (a, b, sa, sb.status) if sa.ok else (b, a, sb,
                                                                                 sa.status)
    point = solved.point(solution.x) if solution.ok else {}
    return {"kind": "status",
            "explanation": f"{solved.source} is {solution.status} but {other.source} is "
                           f"{other_status}",
            "target_model": solved.source, "target_point": point, "problems": []}
