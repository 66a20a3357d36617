"""Map solver vectors back to the user's names (shared by the array backends)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from nl2opt.formulation.arrays import ArrayModel
from nl2opt.solvers.result import ConstraintValues, VariableValues


def variable_values(model: ArrayModel, x: np.ndarray) -> dict[str, VariableValues]:
    result = {}
    for layout in model.variables:
        block = np.asarray(x[layout.offset:layout.offset + layout.size], dtype=float)
        keys = itertools.product(*(s.elements for s in layout.sets))
        # Built from our own arrays, so validation would only re-check what is known to
        # hold; skipping it matters for models with hundreds of thousands of columns.
        result[layout.name] = VariableValues.model_construct(
            name=layout.name, index=[s.name for s in layout.sets],
            values=[(list(key), v) for key, v in zip(keys, block.tolist())])
    return result


def constraint_values(model: ArrayModel, activity: np.ndarray,
                      duals: np.ndarray | None) -> dict[str, ConstraintValues]:
    result: dict[str, ConstraintValues] = {}
    activity = np.asarray(activity, dtype=float)
    slack = np.minimum(activity - model.row_lower, model.row_upper - activity)
    for block in model.rows:
        rows = slice(block.offset, block.offset + block.size)
        # Column-wise numpy first, then one pass building the records: large models have
        # hundreds of thousands of rows, and per-row numpy scalar access dominated.
        columns = [_labels(block), activity[rows].tolist(),
                   _optional(model.row_lower[rows]), _optional(model.row_upper[rows]),
                   slack[rows].tolist()]
        keys = ["index", "activity", "lower", "upper", "slack"]
        if duals is not None:
            columns.append(np.asarray(duals, dtype=float)[rows].tolist())
            keys.append("dual")
        entry = result.setdefault(block.name, ConstraintValues(name=block.name))
        entry.rows.extend(dict(zip(keys, values)) for values in zip(*columns))
    return result


def _labels(block) -> list[list]:
    per_index = [np.asarray(b.set.elements, dtype=object)[b.positions].tolist()
                 for b in block.frame.bindings.values()]
    if not per_index:
        return [[] for _ in range(block.size)]
    return [list(key) for key in zip(*per_index)]


def _optional(values: np.ndarray) -> list:
    return [v if math.isfinite(v) else None for v in values.tolist()]
