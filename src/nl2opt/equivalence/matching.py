"""LLM-free column matching: by name, and by structure (1-WL colour refinement).

Colour refinement runs on the bipartite variable-constraint graph of both models
at once, so colours are comparable across them. Columns start coloured by
integrality, bounds and objective coefficient, rows by their kind and right-hand
side; each round a node's colour becomes its colour plus the multiset of
(neighbour colour, coefficient). In `canonical` mode the objective is scaled to
unit size and minimize/maximize is folded in, and rows are written one way
(`canonical_rows`: `>=` as `<=`, scaled to a largest |coefficient| of 1), so
renaming plus objective or row scaling still matches. Ties left after
refinement (symmetric variables) are broken by individualization: give one pair
of same-coloured columns a fresh colour and refine again.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse as sp

from nl2opt.equivalence.instance import InstanceModel

MAX_INDIVIDUALIZE = 400


def name_matching(target: InstanceModel, source: InstanceModel) -> dict[int, int]:
    """target column -> source column with the same name (exact, then normalized)."""
    source_index = {name: k for k, name in enumerate(source.names)}
    matched = {k: source_index[name] for k, name in enumerate(target.names)
               if name in source_index}
    taken = set(matched.values())
    loose_source = _unique({_normal(n): k for k, n in enumerate(source.names) if k not in taken},
                           [_normal(n) for k, n in enumerate(source.names) if k not in taken])
    loose_target = _unique({_normal(n): k for k, n in enumerate(target.names)
                            if k not in matched},
                           [_normal(n) for k, n in enumerate(target.names) if k not in matched])
    for key, k in loose_target.items():
        if key in loose_source:
            matched[k] = loose_source[key]
    return matched


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def _unique(index: dict[str, int], keys: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return {k: v for k, v in index.items() if counts[k] == 1}


def _num(value: float) -> str:
    if value == 0:
        return "0"  # -0.0 and 0.0 are the same coefficient
    return "inf" if value == np.inf else "-inf" if value == -np.inf else f"{value:.9g}"


def canonical_rows(matrix, row_lower: np.ndarray, row_upper: np.ndarray):
    """The rows written one way: a `>=` row as a `<=` row, each row divided by its
    largest |coefficient|, and a two-sided row (an equation or a range) or its negation,
    whichever reads first. Scaling a row by a nonzero constant does not change the
    model, so `2x + 2y <= 4`, `x + y <= 2` and `-x - y >= -2` look alike."""
    matrix = matrix.tocsr()
    largest = abs(matrix).max(axis=1).toarray().ravel() if matrix.nnz else \
        np.zeros(matrix.shape[0])
    sign = np.where(np.isfinite(row_lower) & ~np.isfinite(row_upper), -1.0, 1.0)
    for r in np.flatnonzero(np.isfinite(row_lower) & np.isfinite(row_upper)):
        sign[r] = _reading_sign(matrix.data[matrix.indptr[r]:matrix.indptr[r + 1]],
                                row_lower[r], row_upper[r], largest[r])
    factor = sign / np.where(largest > 0, largest, 1.0)
    lower, upper = row_lower * factor, row_upper * factor
    return (sp.diags(factor) @ matrix).tocsr(), np.where(sign < 0, upper, lower), \
        np.where(sign < 0, lower, upper)


def _reading_sign(coefficients: np.ndarray, lower: float, upper: float, largest: float
                  ) -> float:
    """1.0 or -1.0: which of a two-sided row and its negation reads first (coefficients
    sorted, so the choice does not depend on the order of the columns)."""
    scale = largest if largest > 0 else 1.0

    def reading(sign: float) -> tuple:
        values = sorted(float(_num(sign * c / scale)) for c in coefficients)
        bounds = sorted((sign * lower / scale, sign * upper / scale))
        return (values, [float(_num(b)) for b in bounds])

    return -1.0 if reading(-1.0) < reading(1.0) else 1.0


class _Graph:
    """A model as coloured bipartite adjacency lists."""

    def __init__(self, model: InstanceModel, canonical: bool) -> None:
        matrix = model.matrix.tocsr().copy()
        row_lower, row_upper = model.row_lower.copy(), model.row_upper.copy()
        if canonical:
            matrix, row_lower, row_upper = canonical_rows(matrix, row_lower, row_upper)
        objective = model.objective.astype(float).copy()
        if canonical:
            if model.maximize:
                objective = -objective
            top = np.max(np.abs(objective), initial=0.0)
            if top > 0:
                objective = objective / top
        self.col_init = [("c", bool(model.integer[k]), _num(model.lower[k]), _num(model.upper[k]),
                          _num(objective[k]), "" if canonical else str(model.maximize))
                         for k in range(model.num_cols)]
        self.row_init = [("r", _num(row_lower[r]), _num(row_upper[r]))
                         for r in range(model.num_rows)]
        csc = matrix.tocsc()
        self.row_adj = [[(int(matrix.indices[k]), _num(matrix.data[k]))
                         for k in range(matrix.indptr[r], matrix.indptr[r + 1])]
                        for r in range(model.num_rows)]
        self.col_adj = [[(int(csc.indices[k]), _num(csc.data[k]))
                         for k in range(csc.indptr[c], csc.indptr[c + 1])]
                        for c in range(model.num_cols)]
        if model.has_quadratic:
            q = model.quadratic
            extra: dict[int, list[str]] = {}
            for i, j, v in zip(q.row, q.col, q.data):
                extra.setdefault(int(i), []).append(_num(v) + ("d" if i == j else "o"))
                if i != j:
                    extra.setdefault(int(j), []).append(_num(v) + "o")
            self.col_init = [init + (tuple(sorted(extra.get(k, []))),)
                             for k, init in enumerate(self.col_init)]


def refine(graphs: list[_Graph], col_seed: list[list] | None = None, rounds: int | None = None
           ) -> list[tuple[list[int], list[int]]]:
    """Joint 1-WL colours (columns, rows) for several graphs, comparable across them."""
    palette: dict = {}

    def paint(signature) -> int:
        return palette.setdefault(signature, len(palette))

    cols = [[paint(s) for s in (col_seed[g] if col_seed else graph.col_init)]
            for g, graph in enumerate(graphs)]
    rows = [[paint(s) for s in graph.row_init] for graph in graphs]
    classes = -1
    limit = rounds if rounds is not None else 1 + sum(len(c) + len(r) for c, r in
                                                        zip(cols, rows))
    for _ in range(limit):
        rows = [[paint((rows[g][r], tuple(sorted((cols[g][c], v) for c, v in adj))))
                 for r, adj in enumerate(graph.row_adj)] for g, graph in enumerate(graphs)]
        cols = [[paint((cols[g][c], tuple(sorted((rows[g][r], v) for r, v in adj))))
                 for c, adj in enumerate(graph.col_adj)] for g, graph in enumerate(graphs)]
        count = len({x for c in cols for x in c}) + len({x for r in rows for x in r})
        if count == classes:
            break
        classes = count
    return list(zip(cols, rows))


def wl_histograms_equal(a: InstanceModel, b: InstanceModel, canonical: bool = False) -> bool:
    """The WL graph test: do the two models get the same multiset of colours?"""
    (ca, ra), (cb, rb) = refine([_Graph(a, canonical), _Graph(b, canonical)])
    return sorted(ca) == sorted(cb) and sorted(ra) == sorted(rb)


def wl_matching(target: InstanceModel, source: InstanceModel) -> dict[int, int] | None:
    """A bijection target column -> source column from colour refinement with
    individualization, or None when the colour multisets differ (not a renaming)."""
    graphs = [_Graph(target, True), _Graph(source, True)]
    (ct, rt), (cs, rs) = refine(graphs)
    if sorted(ct) != sorted(cs) or sorted(rt) != sorted(rs):
        return None
    seeds = [list(g.col_init) for g in graphs]
    for step in range(MAX_INDIVIDUALIZE):
        groups_t, groups_s = _groups(ct), _groups(cs)
        ambiguous = [c for c, members in groups_t.items() if len(members) > 1]
        if not ambiguous:
            return {groups_t[c][0]: groups_s[c][0] for c in groups_t}
        colour = min(ambiguous, key=lambda c: (len(groups_t[c]), c))
        i, j = groups_t[colour][0], groups_s[colour][0]
        seeds[0][i] = seeds[0][i] + (f"individual{step}",)
        seeds[1][j] = seeds[1][j] + (f"individual{step}",)
        # Seed with the current colours so earlier choices persist.
        seeds = [[(s, c) for s, c in zip(seeds[0], ct)], [(s, c) for s, c in zip(seeds[1], cs)]]
        (ct, rt), (cs, rs) = refine(graphs, col_seed=seeds)
        if sorted(ct) != sorted(cs):
            return None
    return None


def _groups(colours: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for k, colour in enumerate(colours):
        groups.setdefault(colour, []).append(k)
    return groups
