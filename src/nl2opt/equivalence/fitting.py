"""Fit an affine map from paired solutions of the two models (no LLM).

Pairs come from *steering*: matched columns (same name or same WL colour) get
the same random cost in both models, and each model is re-solved on its optimal
face and over its whole feasible set. Where the models are reformulations of
each other the two solves land on corresponding points, so every target column
that has no partner (a substituted variable, a binary expansion, a slack) can
be fitted as an affine function of the source columns by least squares.

A fit is kept only when it is exact on the samples and over-determined (more
distinct samples than its support needs), so one lucky point cannot make a map;
the verifier then tests it on fresh samples.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nl2opt.equivalence.instance import InstanceModel
from nl2opt.equivalence.maps import AffineMap
from nl2opt.equivalence.solving import (
    Solution,
    distinct,
    near_optimal_width,
    optimal_face,
    solve,
)

RESIDUAL_TOLERANCE = 1e-6
# Samples closer than this (relative) are one point: solves on an optimal face wobble
# by about 1e-7, and a fit to that wobble would be a fit to noise.
DISTINCT_TOLERANCE = 10 * RESIDUAL_TOLERANCE
UNDERDETERMINED = "underdetermined"  # a column fit that more distinct samples may settle


def paired_samples(target: InstanceModel, source: InstanceModel, target_optimum: Solution,
                   source_optimum: Solution, correspondence: dict[int, int], count: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(target points, source points) as rows, one pair per steering solve that both
    models answered; the two optima are the first pair. The solves take turns on the
    optimal faces, on the near-optimal bands (where columns fixed at the optimum move,
    so the fit sees how they move) and over the whole feasible sets."""
    xs, ys = [target_optimum.x], [source_optimum.x]
    if not correspondence:
        return np.array(xs), np.array(ys)
    rng = np.random.default_rng(seed)
    pairs = list(correspondence.items())
    scales = _relative_scales(target, source, pairs)
    width = near_optimal_width([target_optimum, source_optimum])
    regions = [_regions(target, target_optimum, width), _regions(source, source_optimum, width)]
    for k in range(count):
        weights = rng.normal(size=len(pairs))
        cost_t, cost_s = np.zeros(target.num_cols), np.zeros(source.num_cols)
        for (i, j), w, scale in zip(pairs, weights, scales):
            cost_t[i], cost_s[j] = w, w * scale
        region = k % 3
        if regions[0][region] is False or regions[1][region] is False:
            continue
        x = solve(target, cost=cost_t, extra=regions[0][region])
        y = solve(source, cost=cost_s, extra=regions[1][region])
        if x.ok and y.ok:
            xs.append(x.x)
            ys.append(y.x)
    return np.array(xs), np.array(ys)


def _regions(model: InstanceModel, optimum: Solution, width: float) -> list:
    """Extra rows for the optimal face, the near-optimal band and the whole feasible set
    (False where a quadratic objective cannot be pinned by a linear row)."""
    if model.has_quadratic:
        return [False, False, None]
    return [[optimal_face(model, optimum.objective)],
            [optimal_face(model, optimum.objective, slack=width)], None]


def _relative_scales(target: InstanceModel, source: InstanceModel,
                     pairs: list[tuple[int, int]]) -> list[float]:
    """Per matched pair, how much larger the source column's coefficients are: if
    x_target = s * y_source + t, the source column is s times the target's, and steering
    with costs w on x and w * s on y picks corresponding points."""
    norms_t = np.sqrt(np.asarray(target.matrix.multiply(target.matrix).sum(axis=0))).ravel()
    norms_s = np.sqrt(np.asarray(source.matrix.multiply(source.matrix).sum(axis=0))).ravel()
    return [float(norms_s[j] / norms_t[i]) if norms_t[i] > 0 and norms_s[j] > 0 else 1.0
            for i, j in pairs]


def fit_map(base: AffineMap, xs: np.ndarray, ys: np.ndarray, matched_source: set[int],
            target: InstanceModel | None = None, source: InstanceModel | None = None
            ) -> AffineMap:
    """Complete `base` (a partial column map) by exact, over-determined affine fits for
    the target columns it leaves undefined (and for matched ones the samples refute)."""
    rows, cols, vals = [], [], []
    shift = base.shift.copy()
    defined = base.defined.copy()
    matrix = base.matrix.tocsr()
    free_source = [j for j in range(ys.shape[1]) if j not in matched_source]
    points = _count_distinct(ys)
    unsettled = 0
    for i in range(xs.shape[1]):
        if defined[i] and _exact(matrix[i] @ ys.T + shift[i], xs[:, i]):
            row = matrix[i].tocoo()
            rows.extend([i] * row.nnz)
            cols.extend(row.col.tolist())
            vals.extend(row.data.tolist())
            continue
        if defined[i]:
            # A matched column may be rescaled or shifted (x = a*y + b, a substitution),
            # never rebuilt from other columns: that would fit coincidences.
            partner = int(matrix[i].indices[0])
            scaled = None if points < 3 else _scaled_partner(xs[:, i], ys[:, partner], target,
                                                             source, i, partner)
            if scaled is not None:
                rows.append(i)
                cols.append(partner)
                vals.append(scaled[0])
                shift[i] = scaled[1]
                continue
            tiers = [[partner]]
        else:
            tiers = [free_source, list(range(ys.shape[1]))]
        if not defined[i] and target is not None and source is not None and target.labels[i][1]:
            key = target.labels[i][1]  # e.g. order['a'] <- order_bit['a', 0..2]
            tiers.insert(0, [j for j in free_source if source.labels[j][1][:len(key)] == key])
        fitted = None
        for tier in tiers:
            fitted = _fit_column(xs[:, i], ys, tier) if tier else None
            if fitted is UNDERDETERMINED:
                unsettled += 1
                fitted = None
                break
            if fitted is not None:
                break
        if defined[i] and fitted is not None and not fitted[0] and \
                _count_distinct(ys[:, [partner]]) > 1:
            fitted = None  # a constant would drop a partner that moves
        defined[i] = fitted is not None
        if fitted is None:
            continue
        support, coefs, constant = fitted
        rows.extend([i] * len(support))
        cols.extend(support)
        vals.extend(coefs)
        shift[i] = constant
    fitted_matrix = sp.csr_matrix((vals, (rows, cols)), shape=base.matrix.shape)
    return AffineMap(fitted_matrix, shift, defined, "fitted", unsettled=unsettled)


def _scaled_partner(values, partner_values, target, source, i: int, j: int):
    """x_i = s * y_j + b with s from the columns' coefficient sizes (x = s*y + b makes
    y's column s times x's), which also works when the samples never move x_i."""
    if target is None or source is None:
        return None
    if _count_distinct(np.column_stack([values, partner_values])) < 2:
        return None  # one point fits any offset: no evidence
    [scale] = _relative_scales(target, source, [(i, j)])
    offset = float(np.mean(values - scale * partner_values))
    if _exact(scale * partner_values + offset, values):
        return scale, offset
    return None


def _count_distinct(rows: np.ndarray) -> int:
    return len(distinct(list(rows), DISTINCT_TOLERANCE))


def _exact(predicted, actual) -> bool:
    predicted = np.asarray(predicted).ravel()
    scale = 1.0 + np.max(np.abs(actual), initial=0.0)
    return bool(np.max(np.abs(predicted - actual), initial=0.0) <= RESIDUAL_TOLERANCE * scale)


def _fit_column(values: np.ndarray, ys: np.ndarray, candidates: list[int]):
    """(support, coefficients, constant) with values = ys[:, support] @ coefs + constant,
    exact and over-determined, preferring one source column; None when there is none,
    UNDERDETERMINED when the samples have too few distinct points to tell."""
    points = _count_distinct(ys)
    if points < 3:
        return UNDERDETERMINED
    if np.ptp(values) <= RESIDUAL_TOLERANCE * (1 + np.max(np.abs(values))):
        return [], [], float(values.mean())
    varying = [j for j in candidates
               if np.ptp(ys[:, j]) > DISTINCT_TOLERANCE * (1 + np.max(np.abs(ys[:, j])))]
    for j in varying:  # a single source column: values = a * y_j + b
        design = np.column_stack([ys[:, j], np.ones(len(values))])
        solution, *_ = np.linalg.lstsq(design, values, rcond=None)
        if _exact(design @ solution, values):
            return [j], [float(solution[0])], float(solution[1])
    if not varying:
        return None
    design = np.column_stack([ys[:, varying], np.ones(len(values))])
    rank = np.linalg.matrix_rank(design)
    if points < rank + 1 or rank < design.shape[1]:
        # Rank deficient: many exact fits, and least squares picks one by its norm, not
        # by the models (order = -0.75 b0 + 0.25 b1 + 2.25 b2 + 1.75 from three bit
        # patterns of a binary expansion); none is kept, more points may settle it.
        return UNDERDETERMINED
    solution, *_ = np.linalg.lstsq(design, values, rcond=None)
    if not _exact(design @ solution, values):
        return None
    keep = [k for k in range(len(varying)) if abs(solution[k]) > 1e-9]
    return [varying[k] for k in keep], [float(solution[k]) for k in keep], float(solution[-1])
