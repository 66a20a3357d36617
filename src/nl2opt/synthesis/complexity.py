"""OptMATH's complexity score S(PD), computed from the compiled model.

    S = 1.0 N_bin + 1.5 N_int + 0.5 N_cont + 0.5 N_lin + 2.0 N_indicator
        + 2.5 N_quad + 3.0 N_general + 5.0 f_BigM + 0.1 L_avg

How each count is read off the compiled model (documented in docs/synthesis.md):

* variables are the *active* columns: not fixed (lower < upper) and used by the
  objective or some row; binary = integer with bounds inside [0, 1];
* N_lin, N_quad, N_general count constraint rows (after `forall`/`where`
  expansion) that are linear, quadratic, or beyond quadratic; rows without any
  variable are not constraints;
* N_indicator is 0: nl2opt's language has no indicator constraints (they are
  written with a big-M, which f_BigM counts);
* f_BigM counts big-M rows: linear rows where a binary column's coefficient is at
  least BIG_M_RATIO times every other column's (e.g. `start >= end - H*(1-y)`);
* L_avg is the mean number of terms (linear plus quadratic) per constraint row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel

from nl2opt.formulation import expr as E
from nl2opt.formulation.arrays import ArrayModel, compile_arrays, parse_or_raise
from nl2opt.formulation.classify import degree
from nl2opt.formulation.data import ModelData
from nl2opt.formulation.evaluate import Evaluator, NonlinearTerm, VariableLayout
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.parsed import ParsedConstraint
from nl2opt.formulation.values import as_quad, product_frame

WEIGHTS = {"n_bin": 1.0, "n_int": 1.5, "n_cont": 0.5, "n_lin": 0.5, "n_indicator": 2.0,
           "n_quad": 2.5, "n_general": 3.0, "big_m": 5.0, "avg_terms": 0.1}
BIG_M_RATIO = 10.0


class Complexity(BaseModel):
    """The counts behind S(PD) and the score itself."""

    n_bin: int = 0
    n_int: int = 0
    n_cont: int = 0
    n_lin: int = 0
    n_indicator: int = 0
    n_quad: int = 0
    n_general: int = 0
    big_m: int = 0
    avg_terms: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(weight * getattr(self, name) for name, weight in WEIGHTS.items()), 4)

    def summary(self) -> dict:
        return {"score": self.score, **self.model_dump()}


@dataclass(frozen=True)
class _NonlinearRows:
    quadratic: int
    general: int
    terms: int
    columns: np.ndarray


def complexity(formulation: Formulation, model: ArrayModel | None = None) -> Complexity:
    """S(PD) of a formulation; `model` reuses an ArrayModel already compiled from it."""
    parsed = parse_or_raise(formulation)
    variables = {v.name for v in formulation.variables}
    nonlinear = [c for c in parsed.constraints
                 if degree(c.relation.tree, variables, frozenset(i for i, _ in c.forall)) > 1]
    if model is None:
        linear_part = formulation.model_copy(update={"constraints": [
            c for c in formulation.constraints if c.name not in {n.name for n in nonlinear}]})
        model = compile_arrays(linear_part.with_data_dir(formulation.data_dir))
    extra = _nonlinear_rows(nonlinear, model) if nonlinear else None
    return _count(model, extra)


def _count(model: ArrayModel, extra: _NonlinearRows | None) -> Complexity:
    matrix = model.matrix.tocsr()
    row_terms = np.diff(matrix.indptr)
    used = np.zeros(model.num_cols, dtype=bool)
    used[matrix.indices] = True
    used |= model.objective != 0
    if model.quadratic is not None:
        used[model.quadratic.row] = used[model.quadratic.col] = True
    if extra is not None:
        used[extra.columns] = True
    active = used & (model.col_lower < model.col_upper)
    integer = model.integrality.astype(bool)
    binary = integer & (model.col_lower >= 0) & (model.col_upper <= 1)
    rows = row_terms > 0
    n_lin = int(rows.sum())
    quadratic, general, terms = (extra.quadratic, extra.general, extra.terms) if extra else (
        0, 0, 0)
    total_rows = n_lin + quadratic + general
    average = (float(row_terms.sum()) + terms) / total_rows if total_rows else 0.0
    return Complexity(n_bin=int((active & binary).sum()),
                      n_int=int((active & integer & ~binary).sum()),
                      n_cont=int((active & ~integer).sum()), n_lin=n_lin, n_quad=quadratic,
                      n_general=general, big_m=_big_m_rows(matrix, binary),
                      avg_terms=average)


def _big_m_rows(matrix: sp.csr_matrix, binary: np.ndarray) -> int:
    """Rows where some binary column's |coefficient| >= BIG_M_RATIO x every other's."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    coefs, is_binary = np.abs(matrix.data), binary[matrix.indices]
    binary_max = np.zeros(matrix.shape[0])
    other_max = np.zeros(matrix.shape[0])
    np.maximum.at(binary_max, rows[is_binary], coefs[is_binary])
    np.maximum.at(other_max, rows[~is_binary], coefs[~is_binary])
    return int(np.sum((binary_max > 0) & (other_max > 0)
                      & (binary_max >= BIG_M_RATIO * other_max)))


def _nonlinear_rows(constraints: list[ParsedConstraint], model: ArrayModel) -> _NonlinearRows:
    """Rows, terms and columns of the constraints the array compiler cannot take."""
    data = model.data
    layouts = {layout.name: layout for layout in model.variables}
    quadratic = general = terms = 0
    columns: list[np.ndarray] = []
    for constraint in constraints:
        frame = _frame(constraint, data, layouts)
        evaluator = Evaluator(data, layouts, constraint.element, constraint.relation.text)
        try:
            sides = [as_quad(evaluator.numeric(operand, frame))
                     for operand in constraint.relation.tree.operands]
        except NonlinearTerm:
            general += frame.size
            named = _variables_named(constraint, layouts)
            columns.extend(np.arange(v.offset, v.offset + v.size) for v in named)
            terms += frame.size * max(1, len(named))
            continue
        quadratic += frame.size
        for side in sides:
            terms += len(side.coefs) + int(np.count_nonzero(side.lin.coefs))
            columns += [side.cols1, side.cols2, side.lin.cols]
    joined = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    return _NonlinearRows(quadratic, general, terms, joined.astype(np.int64))


def _frame(constraint: ParsedConstraint, data: ModelData, layouts):
    frame = product_frame([(index, data.sets[set_name]) for index, set_name in constraint.forall])
    if constraint.where is not None:
        evaluator = Evaluator(data, layouts, constraint.where.element, constraint.where.text)
        frame = frame.take(np.flatnonzero(evaluator.mask(constraint.where.tree, frame)))
    return frame


def _variables_named(constraint: ParsedConstraint, layouts) -> list[VariableLayout]:
    names = {getattr(node, "name", None) or getattr(node, "id", None)
             for node in E.walk(constraint.relation.tree)}
    return [layout for name, layout in layouts.items() if name in names]

