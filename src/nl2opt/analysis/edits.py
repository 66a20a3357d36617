"""Small edits of a formulation for what-if questions and repairs (pure; no solving).

`set_parameter` changes one entry (or every entry) of a parameter, whatever form
its data takes; `add_condition` adds a constraint. Both return a new formulation
and leave the original untouched.
"""

from __future__ import annotations

import math

import numpy as np

from nl2opt.errors import Nl2OptError
from nl2opt.formulation.data import resolve_data
from nl2opt.formulation.model import Constraint, Formulation, Parameter
from nl2opt.text import snippet

MAX_TABLE_ENTRIES = 20_000  # a CSV-sourced parameter is rewritten as a table up to this size


class EditError(Nl2OptError):
    """The requested edit does not fit the formulation (unknown name, element, ...)."""


def parameter(formulation: Formulation, name: str) -> Parameter:
    for candidate in formulation.parameters:
        if candidate.name == name:
            return candidate
    known = ", ".join(p.name for p in formulation.parameters) or "none"
    raise EditError(f"the model has no parameter '{name}' (parameters: {known})")


def parameter_value(formulation: Formulation, name: str, key: tuple = ()) -> float:
    """The value of `name[key]` as the solver sees it (CSV sources and defaults included)."""
    data = resolve_data(formulation)
    values = data.params[parameter(formulation, name).name]
    if not values.index:
        return float(values.values)
    return float(values.values[_position(data, values.index, key, name)])


def _position(data, index: tuple[str, ...], key: tuple, name: str) -> tuple[int, ...]:
    if len(key) != len(index):
        raise EditError(f"parameter '{name}' is indexed over {', '.join(index)}: give "
                        f"{len(index)} element(s), got {len(key)}")
    position = []
    for set_name, element in zip(index, key):
        found = data.sets[set_name].position_of(element)
        if found is None:
            raise EditError(f"'{element}' is not an element of set {set_name} "
                            f"(parameter '{name}')")
        position.append(found)
    return tuple(position)


def set_parameter(formulation: Formulation, name: str, key: tuple | None, value: float
                  ) -> Formulation:
    """A copy with `name[key]` set to `value`; key None (or () for an indexed parameter)
    sets every entry."""
    target = parameter(formulation, name)
    value = _number(value, name)
    if not target.index:
        return _replace_parameter(formulation, target.model_copy(update={"value": value}))
    data = resolve_data(formulation)
    array = np.array(data.params[name].values, dtype=float)
    if key:
        array[_position(data, target.index, tuple(key), name)] = value
    else:
        array[...] = value
    sets = [data.sets[s].elements for s in target.index]
    if array.size > MAX_TABLE_ENTRIES:
        raise EditError(f"parameter '{name}' has {array.size:,} entries; change it in its "
                        "data file instead")
    rows = [[*(sets[k][i] for k, i in enumerate(position)), _plain(array[position])]
            for position in np.ndindex(array.shape) if not np.isnan(array[position])]
    if target.values is not None:  # keep the nested form the model was written in
        update = {"values": _nested(rows), "default": None}
    else:
        update = {"table": rows, "csv": None, "default": None}
    return _replace_parameter(formulation, target.model_copy(update=update))


def _number(value, name: str) -> float:
    """`value` as a float; a bool, NaN, text that is no number or an int beyond floats is
    an EditError (as the data checks refuse them), not a traceback. An infinity stays:
    validation decides where one is allowed (e.g. an unlimited capacity)."""
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if math.isnan(number):
        raise EditError(f"parameter '{name}': {snippet(value)} is not a number; give a "
                        "number such as 120 or 0.35")
    return number


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def _nested(rows: list[list]) -> dict:
    nested: dict = {}
    for *key, value in rows:
        level = nested
        for element in key[:-1]:
            level = level.setdefault(str(element), {})
        level[str(key[-1])] = value
    return nested


def _replace_parameter(formulation: Formulation, new: Parameter) -> Formulation:
    parameters = [new if p.name == new.name else p for p in formulation.parameters]
    return formulation.model_copy(update={"parameters": parameters})


def add_condition(formulation: Formulation, expression: str, description: str = "",
                  name: str = "asked_condition") -> Formulation:
    """A copy with one more constraint (named `name`, made unique)."""
    taken = {c.name for c in formulation.constraints}
    unique, number = name, 2
    while unique in taken:
        unique, number = f"{name}_{number}", number + 1
    constraint = Constraint(name=unique, expression=expression, description=description)
    return formulation.model_copy(update={"constraints": [*formulation.constraints,
                                                         constraint]})
