"""Map solver vectors back to the user's names (shared by the array backends)."""

from __future__ import annotations

import itertools

import numpy as np

from nl2opt.formulation.arrays import ArrayModel
from nl2opt.solvers.result import ConstraintValues, VariableValues


def variable_values(model: ArrayModel, x: np.ndarray) -> dict[str, VariableValues]:
    result = {}
    for layout in model.variables:
        block = np.asarray(x[layout.offset:layout.offset + layout.size], dtype=float)
        keys = itertools.product(*(s.elements for s in layout.sets))
        result[layout.name] = VariableValues(
            name=layout.name, index=[s.name for s in layout.sets],
            values=[(list(key), float(v)) for key, v in zip(keys, block.tolist())])
    return result


def constraint_values(model: ArrayModel, activity: np.ndarray,
                      duals: np.ndarray | None) -> dict[str, ConstraintValues]:
    result: dict[str, ConstraintValues] = {}
    for block in model.rows:
        entry = result.setdefault(block.name, ConstraintValues(name=block.name))
        for local in range(block.size):
            row = block.offset + local
            low, high = float(model.row_lower[row]), float(model.row_upper[row])
            value = float(activity[row])
            slack = min(value - low, high - value)
            record = {"index": list(block.frame.labels(local)), "activity": value,
                      "lower": _finite_or_none(low), "upper": _finite_or_none(high),
                      "slack": slack}
            if duals is not None:
                record["dual"] = float(duals[row])
            entry.rows.append(record)
    return result


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None
