"""Tables and chart choices for a solution and for a formulation's data (pure pandas).

Indexed variables become tables; a chart is suggested where it helps: lines
when a variable is indexed over time (a set that is an integer range or is
named like months/periods), bars otherwise; a second index becomes the
series. Variables with more than two indices are shown as tables only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from nl2opt.errors import Nl2OptError
from nl2opt.formulation.data import resolve_data
from nl2opt.formulation.model import Formulation, SetDef
from nl2opt.solvers.result import SolveResult

MAX_CHART_POINTS = 400
_TIME_WORDS = re.compile(r"\b(t|time|times|periods?|months?|weeks?|days?|years?|hours?|"
                         r"quarters?|stages?|slots?|horizon)\b", re.IGNORECASE)


@dataclass
class VariableView:
    name: str
    description: str
    table: pd.DataFrame  # long form: one column per index set, then "value"
    chart: Literal["bar", "line"] | None = None
    chart_data: pd.DataFrame | None = None  # x as the index, one column per series
    x_column: str = ""  # the table column along the x axis
    series_column: str | None = None  # the table column that makes the series (colours)


def is_time_set(definition: SetDef | None) -> bool:
    """Whether a set reads as time: an integer range, or named/described like periods."""
    if definition is None:
        return False
    words = f"{definition.name} {definition.description}"
    return definition.range is not None or bool(_TIME_WORDS.search(words))


def variable_views(formulation: Formulation, result: SolveResult) -> list[VariableView]:
    """One view per indexed variable (scalars are gathered by `scalar_table`)."""
    sets = {s.name: s for s in formulation.sets}
    views = []
    for variable in formulation.variables:
        values = result.variables.get(variable.name)
        if values is None or not variable.index or not values.values:
            continue
        columns = [_column_name(name, sets) for name in variable.index]
        rows = [[*key, value] for key, value in values.values]
        table = pd.DataFrame(rows, columns=[*columns, "value"])
        view = VariableView(variable.name, variable.description, table)
        _choose_chart(view, [sets.get(name) for name in variable.index], columns)
        views.append(view)
    return views


def _column_name(set_name: str, sets: dict[str, SetDef]) -> str:
    description = sets[set_name].description if set_name in sets else ""
    return f"{set_name} ({description})" if description else set_name


def _choose_chart(view: VariableView, definitions: list, columns: list[str]) -> None:
    table = view.table
    if len(table) < 2 or len(table) > MAX_CHART_POINTS or len(columns) > 2:
        return
    timed = [is_time_set(d) for d in definitions]
    if len(columns) == 1:
        x_column, series = columns[0], None
    else:
        # Time goes along the x axis; otherwise the first index does.
        x_column = columns[1] if timed[1] and not timed[0] else columns[0]
        series = columns[0] if x_column == columns[1] else columns[1]
    view.chart = "line" if timed[columns.index(x_column)] else "bar"
    view.x_column, view.series_column = x_column, series
    if series is None:
        data = table.set_index(x_column)[["value"]].rename(columns={"value": view.name})
    else:
        data = table.pivot_table(index=x_column, columns=series, values="value",
                                 aggfunc="sum", sort=False)
        data.columns = [str(c) for c in data.columns]
    if view.chart == "bar":
        data.index = [str(i) for i in data.index]  # categories, in model order
    view.chart_data = data


def scalar_table(formulation: Formulation, result: SolveResult) -> pd.DataFrame | None:
    """Scalar variables (name, value, description), or None if there are none."""
    rows = []
    for variable in formulation.variables:
        values = result.variables.get(variable.name)
        if variable.index or values is None or not values.values:
            continue
        rows.append({"variable": variable.name, "value": values.values[0][1],
                     "description": variable.description})
    return pd.DataFrame(rows) if rows else None


def parameter_tables(formulation: Formulation) -> tuple[pd.DataFrame | None,
                                                         list[tuple[str, str, pd.DataFrame]]]:
    """(scalar parameters table, [(name, caption, table) for indexed parameters]).

    Raises Nl2OptError when the data cannot be resolved (e.g. a CSV is missing).
    """
    data = resolve_data(formulation)
    scalars, tables = [], []
    for parameter in formulation.parameters:
        param = data.params.get(parameter.name)
        if param is None:
            continue
        caption = "; ".join(p for p in (parameter.description,
                                        parameter.unit and f"unit: {parameter.unit}") if p)
        if not param.index:
            scalars.append({"parameter": parameter.name, "value": float(param.values),
                            "unit": parameter.unit, "description": parameter.description})
            continue
        elements = [data.sets[name].elements for name in param.index]
        tables.append((parameter.name, caption, _param_frame(param.values, elements,
                                                             list(param.index))))
    return (pd.DataFrame(scalars) if scalars else None), tables


def _param_frame(values: np.ndarray, elements: list[tuple], names: list[str]) -> pd.DataFrame:
    if len(elements) == 1:
        return pd.DataFrame({"value": values}, index=pd.Index(elements[0], name=names[0]))
    if len(elements) == 2:
        frame = pd.DataFrame(values, index=pd.Index(elements[0], name=names[0]),
                             columns=[str(e) for e in elements[1]])
        return frame
    rows = [[*(elements[k][i] for k, i in enumerate(position)), values[position]]
            for position in np.ndindex(values.shape)]
    return pd.DataFrame(rows, columns=[*names, "value"])


def safe_parameter_tables(formulation: Formulation):
    """`parameter_tables`, or (None, [], message) when the data cannot be read."""
    try:
        scalars, tables = parameter_tables(formulation)
    except Nl2OptError as error:
        return None, [], str(error)
    return scalars, tables, ""
