"""One instantiated model, whatever it came from: the thing equivalence is decided on.

Two formulations are compared as *instances*: named columns with bounds and
integrality, an objective (linear part, offset, sense, optional quadratic part)
and a sparse constraint matrix with row bounds. `InstanceModel` is built from an
nl2opt formulation (through `compile_arrays`), from an LP or MPS file (read by
HiGHS), or from a Pyomo/gurobipy script run in the sandbox that writes the model.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from nl2opt.errors import Nl2OptError

INF = float("inf")


class EquivalenceInputError(Nl2OptError):
    """A model given for comparison could not be read or instantiated."""


@dataclass
class InstanceModel:
    """A named, instantiated optimization model (linear constraints, linear or quadratic
    objective). `labels[k]` is (base name, index tuple) of column k, for readable maps."""

    names: list[str]
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray  # bool per column
    objective: np.ndarray
    offset: float
    maximize: bool
    matrix: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_names: list[str]
    quadratic: sp.coo_matrix | None = None  # coef * x_i * x_j with i <= j
    source: str = ""
    labels: list[tuple[str, tuple]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = [split_label(name) for name in self.names]

    @property
    def num_cols(self) -> int:
        return len(self.names)

    @property
    def num_rows(self) -> int:
        return len(self.row_names)

    @property
    def has_quadratic(self) -> bool:
        return self.quadratic is not None and self.quadratic.nnz > 0

    def objective_value(self, x: np.ndarray) -> float:
        """The model's own objective at `x` (offset and quadratic part included)."""
        value = float(self.objective @ x) + self.offset
        if self.has_quadratic:
            q = self.quadratic
            value += float(np.sum(q.data * x[q.row] * x[q.col]))
        return value

    def violations(self, x: np.ndarray, tol: float = 1e-6) -> list[str]:
        """What `x` violates (bounds, integrality, rows), worst first, in user names."""
        found: list[tuple[float, str]] = []
        scale = 1.0 + np.abs(x)
        for k in np.flatnonzero(x < self.lower - tol * (1 + np.abs(self.lower))):
            found.append((self.lower[k] - x[k], (f"{self.names[k]} = {x[k]:.6g} is below "
                                                 f"its lower bound {self.lower[k]:.6g}")))
        for k in np.flatnonzero(x > self.upper + tol * (1 + np.abs(self.upper))):
            found.append((x[k] - self.upper[k], (f"{self.names[k]} = {x[k]:.6g} is above "
                                                 f"its upper bound {self.upper[k]:.6g}")))
        fractional = np.abs(x - np.round(x)) > max(tol, 1e-5) * scale
        for k in np.flatnonzero(self.integer & fractional):
            found.append((abs(x[k] - round(x[k])), f"{self.names[k]} = {x[k]:.6g} must be integer"))
        activity = self.matrix @ x
        magnitude = 1.0 + abs(self.matrix) @ np.abs(x)
        for r in np.flatnonzero(activity < self.row_lower - tol * magnitude):
            found.append((self.row_lower[r] - activity[r],
                          (f"{self.row_names[r]}: {activity[r]:.6g} >= "
                           f"{self.row_lower[r]:.6g} is violated")))
        for r in np.flatnonzero(activity > self.row_upper + tol * magnitude):
            found.append((activity[r] - self.row_upper[r],
                          (f"{self.row_names[r]}: {activity[r]:.6g} <= "
                           f"{self.row_upper[r]:.6g} is violated")))
        return [text for _, text in sorted(found, key=lambda item: -item[0])]

    def point(self, x: np.ndarray, nonzero_only: bool = True) -> dict[str, float]:
        """A solution vector as {user name: value}."""
        return {name: float(v) for name, v in zip(self.names, x)
                if not nonzero_only or abs(v) > 1e-9}

    def column(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise EquivalenceInputError(f"{self.source or 'model'} has no variable {name!r}")


# --- building instances ---------------------------------------------------------------

_LABEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)[\[(](.*)[\])]$")


def split_label(name: str) -> tuple[str, tuple]:
    """`x[1,'a']` / `x(1,a)` -> ('x', (1, 'a')); anything else -> (name, ())."""
    match = _LABEL.match(name)
    if not match:
        return name, ()
    parts = [p.strip().strip("'\"") for p in match.group(2).split(",")]
    return match.group(1), tuple(int(p) if re.fullmatch(r"-?\d+", p) else p for p in parts)


def from_formulation(formulation) -> InstanceModel:
    """An nl2opt Formulation -> InstanceModel (through the array compiler)."""
    from nl2opt.formulation.arrays import compile_arrays, format_label
    from nl2opt.formulation.model import Sense

    model = compile_arrays(formulation)
    labels = [model.column_label(c) for c in range(model.num_cols)]
    names = [format_label(n, k) for n, k in labels]
    row_names = [format_label(*model.row_label(r)) for r in range(model.num_rows)]
    quadratic = model.quadratic.tocoo() if model.quadratic is not None else None
    return InstanceModel(names, model.col_lower.astype(float), model.col_upper.astype(float),
                         model.integrality.astype(bool), model.objective.astype(float),
                         float(model.objective_offset), model.sense is Sense.maximize,
                         model.matrix.tocsr(), model.row_lower.astype(float),
                         model.row_upper.astype(float), row_names, quadratic,
                         source=formulation.name or "formulation", labels=labels)


def from_highs(highs, source: str = "") -> InstanceModel:
    """The model held by a `highspy.Highs` (e.g. after readModel) -> InstanceModel."""
    import highspy

    lp = highs.getLp()
    n, m = lp.num_col_, lp.num_row_
    a = lp.a_matrix_
    start, index, value = (np.asarray(a.start_), np.asarray(a.index_), np.asarray(a.value_))
    if a.format_ == highspy.MatrixFormat.kRowwise:
        matrix = sp.csr_matrix((value, index, start), shape=(m, n))
    else:
        matrix = sp.csc_matrix((value, index, start), shape=(m, n)).tocsr()
    names = list(lp.col_names_) or [f"c{k}" for k in range(n)]
    row_names = list(lp.row_names_) or [f"r{k}" for k in range(m)]
    integrality = list(lp.integrality_)
    integer = np.array([t != highspy.HighsVarType.kContinuous for t in integrality]
                       if integrality else [False] * n, dtype=bool)
    return InstanceModel(names, np.asarray(lp.col_lower_, float),
                         np.asarray(lp.col_upper_, float), integer,
                         np.asarray(lp.col_cost_, float), float(lp.offset_),
                         lp.sense_ == highspy.ObjSense.kMaximize, matrix,
                         np.asarray(lp.row_lower_, float), np.asarray(lp.row_upper_, float),
                         row_names, _hessian_terms(highs.getModel().hessian_, n),
                         source=source)


def _hessian_terms(hessian, n: int) -> sp.coo_matrix | None:
    """HiGHS' 1/2 x'Qx (lower triangle, column-wise) -> coef * x_i * x_j terms, i <= j."""
    if hessian.dim_ == 0 or not len(hessian.value_):
        return None
    lower = sp.csc_matrix((np.asarray(hessian.value_), np.asarray(hessian.index_),
                           np.asarray(hessian.start_)), shape=(n, n)).tocoo()
    first, second = np.minimum(lower.row, lower.col), np.maximum(lower.row, lower.col)
    coefs = np.where(first == second, 0.5 * lower.data, lower.data)
    terms = sp.coo_matrix((coefs, (first, second)), shape=(n, n))
    terms.sum_duplicates()
    return terms


def read_model_file(path: str | Path) -> InstanceModel:
    """An LP or MPS file -> InstanceModel (read by HiGHS)."""
    from nl2opt.solvers.highs_direct import new_highs

    path = Path(path)
    if not path.is_file():
        raise EquivalenceInputError(f"model file {str(path)!r} does not exist")
    highs = new_highs()
    highs.setOptionValue("output_flag", False)
    status = highs.readModel(str(path))
    if str(status).endswith("kError"):
        raise EquivalenceInputError(f"HiGHS could not read {str(path)!r}; check that it is a "
                                    "valid LP or MPS file")
    if highs.getLp().num_col_ == 0:
        # HiGHS reads an empty (or comment-only) file as a model with nothing in it.
        raise EquivalenceInputError(f"model file {str(path)!r} holds no variables "
                                    f"({path.stat().st_size} bytes); check that it is the "
                                    "LP or MPS file you meant and that it was written fully")
    return from_highs(highs, source=path.name)


def from_model_text(text: str, suffix: str, source: str = "") -> InstanceModel:
    """LP/MPS text (e.g. returned by a sandboxed script) -> InstanceModel."""
    handle, path = tempfile.mkstemp(prefix="nl2opt-equiv-", suffix=suffix)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        model = read_model_file(path)
    finally:
        os.unlink(path)
    model.source = source or model.source
    return model


def load_instance(source, *, timeout: float = 120) -> InstanceModel:
    """Anything comparable -> InstanceModel: an InstanceModel, a Formulation, a formulation
    JSON path/string/dict, an .lp/.mps file, or a .py script (Pyomo or gurobipy) that
    builds a model; scripts run in the sandbox (see `nl2opt.equivalence.scripts`)."""
    from nl2opt.formulation.model import Formulation, load_formulation

    if isinstance(source, InstanceModel):
        return source
    if isinstance(source, Formulation):
        return from_formulation(source)
    if isinstance(source, dict):
        return from_formulation(load_formulation(source))
    text = str(source)
    if text.lstrip().startswith("{"):
        return from_formulation(load_formulation(text))
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in (".lp", ".mps") or text.lower().endswith(".mps.gz"):
        return read_model_file(path)
    if suffix == ".py":
        from nl2opt.equivalence.scripts import instance_from_script

        return instance_from_script(path.read_text(encoding="utf-8"), source=path.name,
                                    timeout=timeout)
    if suffix == ".json":
        model = from_formulation(load_formulation(path))
        model.source = path.name
        return model
    raise EquivalenceInputError(f"cannot tell what {text!r} is: give a formulation .json, an "
                                ".lp or .mps file, or a .py script that builds the model")
