"""A small builder that turns generated arrays into an nl2opt formulation.

Generators think in numpy arrays over index sets; the formulation wants sets,
parameters with nested values, variables, an objective and constraints. The
builder keeps that translation in one place: an array over sets (I, J)
becomes `{"i1": {"j1": 3, ...}}`, zeros of sparse data are left to a
`default`, and every set remembers a singular label ("item", "bin") that names
its CSV column when the data is moved to files (`nl2opt.synthesis.tables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nl2opt.formulation.model import Formulation


@dataclass
class ModelBuilder:
    """Accumulates the five elements; `formulation()` returns the validated model."""

    name: str
    description: str
    assumptions: list[str] = field(default_factory=list)
    sets: list[dict] = field(default_factory=list)
    parameters: list[dict] = field(default_factory=list)
    variables: list[dict] = field(default_factory=list)
    objective_: dict | None = None
    constraints: list[dict] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    _elements: dict[str, list] = field(default_factory=dict)

    def set(self, name: str, elements: Sequence, description: str, label: str) -> list:
        """Declare a set; `label` is the singular word for one element (CSV column name)."""
        elements = list(elements)
        self.sets.append({"name": name, "description": description, "elements": elements})
        self.labels[name] = label
        self._elements[name] = elements
        return elements

    def scalar(self, name: str, value: float, description: str, unit: str = "") -> None:
        self.parameters.append(_drop_empty({"name": name, "description": description,
                                            "unit": unit, "value": _number(value)}))

    def param(self, name: str, index: Sequence[str], values: Any, description: str,
              unit: str = "", default: float | None = None) -> None:
        """An indexed parameter from an array shaped like its index sets.

        With `default`, entries equal to it are left out (sparse data such as arcs).
        """
        array = np.asarray(values, dtype=float)
        shape = tuple(len(self._elements[s]) for s in index)
        if array.shape != shape:
            raise ValueError(f"parameter {name}: array shape {array.shape} does not match "
                             f"its index sets {list(index)} of sizes {shape}")
        nested = self._nest(list(index), array, default)
        entry = {"name": name, "description": description, "unit": unit,
                 "index": list(index), "values": nested}
        if default is not None:
            entry["default"] = _number(default)
        self.parameters.append(_drop_empty(entry))

    def var(self, name: str, index: Sequence[str] = (), type: str = "continuous",
            description: str = "", lower: float | str | None = 0,
            upper: float | str | None = None) -> None:
        entry: dict[str, Any] = {"name": name, "description": description, "index": list(index),
                                 "type": type, "lower": lower}
        if upper is not None:
            entry["upper"] = upper
        self.variables.append(entry)

    def objective(self, sense: str, expression: str, description: str) -> None:
        self.objective_ = {"sense": sense, "expression": expression,
                           "description": description}

    def constraint(self, name: str, expression: str, description: str,
                   forall: Sequence[str] = (), where: str | None = None) -> None:
        entry: dict[str, Any] = {"name": name, "description": description,
                                 "forall": list(forall), "expression": expression}
        if where:
            entry["where"] = where
        self.constraints.append(entry)

    def formulation(self) -> Formulation:
        if self.objective_ is None:
            raise ValueError(f"model {self.name}: no objective was set")
        return Formulation.model_validate({
            "name": self.name, "description": self.description,
            "assumptions": self.assumptions, "sets": self.sets,
            "parameters": self.parameters, "variables": self.variables,
            "objective": self.objective_, "constraints": self.constraints})

    def _nest(self, index: list[str], array: np.ndarray, default: float | None):
        if not index:
            return _number(array)
        nested = {}
        for element, sub in zip(self._elements[index[0]], array):
            value = self._nest(index[1:], sub, default)
            if value == {} or (default is not None and not index[1:] and value == default):
                continue
            nested[str(element)] = value
        return nested


def names(prefix: str, count: int) -> list[str]:
    """Element names prefix1 .. prefixN."""
    return [f"{prefix}{k}" for k in range(1, count + 1)]


def _number(value) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else round(number, 6)


def _drop_empty(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if v != ""}
