"""Re-solves on one HiGHS instance: a changed model is applied in place, not rebuilt.

What-if questions, sensitivity runs, equivalence checks and voting solve models that
differ from the last one in a few numbers: a cost, a bound, a right-hand side, a
coefficient. `HighsSession` keeps the `highspy.Highs` that holds the last model and,
when the next one has the same shape and sparsity pattern, changes only the entries
that differ (`changeColsCost`, `changeColsBounds`, `changeRowsBounds`, `changeCoeff`,
...), so HiGHS also keeps its basis and can warm-start. Anything else (new columns or
rows, another sparsity pattern, another quadratic objective) is passed afresh.

    session = HighsSession(compile_arrays(base))
    first = session.solve()
    session.update(compile_arrays(variant))   # in place when only numbers changed
    second = session.solve()
"""

from __future__ import annotations

import numpy as np

from nl2opt.formulation.arrays import ArrayModel
from nl2opt.formulation.finite import raise_if_non_finite
from nl2opt.formulation.model import Sense
from nl2opt.solvers.base import SolveOptions
from nl2opt.solvers.highs_direct import (
    HighsDirectBackend,
    _highspy,
    as_float64,
    build_highs,
    checked,
    raise_if_refused_by_highs,
)
from nl2opt.solvers.result import SolveResult


class HighsSession:
    """One HiGHS instance and the model it holds."""

    def __init__(self, model: ArrayModel, options: SolveOptions | None = None) -> None:
        self.options = options or SolveOptions()
        self.model = model
        self.highs = build_highs(model, self.options) if model.num_cols else None
        self.updates_in_place = 0

    def solve(self, options: SolveOptions | None = None) -> SolveResult:
        """Solve the model held now (a fresh time limit from `options`, if given)."""
        options = options or self.options
        backend = HighsDirectBackend()
        if self.highs is None:
            return backend.solve_arrays(self.model, options)
        return backend.solve_built(self.highs, self.model, options)

    def update(self, model: ArrayModel) -> bool:
        """Hold `model` from now on: in place when only numbers changed (True), by
        passing it afresh otherwise (False)."""
        raise_if_non_finite(model)
        if self.highs is not None:
            raise_if_refused_by_highs(self.highs, model)
        if self.highs is not None and update_highs(self.highs, self.model, model):
            self.model = model
            self.updates_in_place += 1
            return True
        self.model = model
        self.highs = build_highs(model, self.options) if model.num_cols else None
        return False


def same_structure(old: ArrayModel, new: ArrayModel) -> bool:
    """Same columns, rows and sparsity pattern, and the same quadratic objective:
    everything else can be changed in place."""
    if old.matrix.shape != new.matrix.shape or old.matrix.nnz != new.matrix.nnz:
        return False
    if not (np.array_equal(old.matrix.indptr, new.matrix.indptr)
            and np.array_equal(old.matrix.indices, new.matrix.indices)):
        return False
    return _same_quadratic(old, new)


def _has_quadratic(model: ArrayModel) -> bool:
    return model.quadratic is not None and bool(model.quadratic.nnz)


def _same_quadratic(old: ArrayModel, new: ArrayModel) -> bool:
    a, b = old.quadratic, new.quadratic
    if a is None or not a.nnz or b is None or not b.nnz:
        return (a is None or not a.nnz) and (b is None or not b.nnz)
    return (a.nnz == b.nnz and np.array_equal(a.row, b.row) and np.array_equal(a.col, b.col)
            and np.array_equal(a.data, b.data))


def update_highs(highs, old: ArrayModel, new: ArrayModel) -> bool:
    """Change what differs between `old` (held by `highs`) and `new`, in place; False
    (and nothing changed) when the structure differs."""
    if not same_structure(old, new):
        return False
    if _has_quadratic(new) and new.integrality.any():
        return False  # MIQP: passing it afresh refuses it, with the reason
    highspy = _highspy()
    if new.sense is not old.sense:
        sense = highspy.ObjSense.kMaximize if new.sense is Sense.maximize \
            else highspy.ObjSense.kMinimize
        checked(highs.changeObjectiveSense(sense), "the objective sense")
    if new.objective_offset != old.objective_offset:
        checked(highs.changeObjectiveOffset(new.objective_offset), "the objective offset")
    _change(highs.changeColsCost, "costs", old.objective, new.objective, new.objective)
    _change(highs.changeColsBounds, "column bounds", np.stack([old.col_lower, old.col_upper]),
            np.stack([new.col_lower, new.col_upper]), new.col_lower, new.col_upper)
    _change(highs.changeRowsBounds, "row bounds", np.stack([old.row_lower, old.row_upper]),
            np.stack([new.row_lower, new.row_upper]), new.row_lower, new.row_upper)
    _change_integrality(highs, old, new)
    _change_coefficients(highs, old, new)
    return True


def _changed(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Indices (along the last axis) where the arrays differ; -inf == -inf counts as same."""
    differs = old != new
    if differs.ndim > 1:
        differs = differs.any(axis=0)
    return np.flatnonzero(differs).astype(np.int32)


def _change(method, what: str, old: np.ndarray, new: np.ndarray, *values: np.ndarray) -> None:
    index = _changed(old, new)
    if index.size:
        checked(method(index.size, index, *(as_float64(v[index]) for v in values)),
                f"the changed {what}")


def _change_integrality(highs, old: ArrayModel, new: ArrayModel) -> None:
    index = _changed(old.integrality, new.integrality)
    if not index.size:
        return
    highspy = _highspy()
    kinds = np.where(new.integrality[index] > 0, int(highspy.HighsVarType.kInteger),
                     int(highspy.HighsVarType.kContinuous)).astype(np.uint8)
    checked(highs.changeColsIntegrality(index.size, index, kinds), "the changed integrality")


def _change_coefficients(highs, old: ArrayModel, new: ArrayModel) -> None:
    entries = np.flatnonzero(old.matrix.data != new.matrix.data)
    if not entries.size:
        return
    rows = np.repeat(np.arange(new.num_rows), np.diff(new.matrix.indptr))
    for entry in entries:
        checked(highs.changeCoeff(int(rows[entry]), int(new.matrix.indices[entry]),
                                  float(new.matrix.data[entry])), "a changed coefficient")
