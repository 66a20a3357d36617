"""The Solution and Data tabs: tables, and charts with titled axes and level labels."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from nl2opt.app.charts import VariableView, safe_parameter_tables, scalar_table, variable_views
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.render import md_text
from nl2opt.formulation.wording import format_number
from nl2opt.solvers.result import SolveResult

SMALL_TABLE = 25  # rows: shown as a static table (instant, printable); larger ones scroll
CHART_HEIGHT = 240


def show_table(frame: pd.DataFrame, hide_index: bool = True) -> None:
    """A static table when small, an interactive (scrolling, sortable) one when large."""
    if len(frame) <= SMALL_TABLE:
        floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
        styled = frame.style.format(format_number, subset=floats, na_rep="—")
        if not hide_index and pd.api.types.is_float_dtype(frame.index):
            styled = styled.format_index(format_number)
        st.table(styled, hide_index=hide_index, border="horizontal")
    else:
        st.dataframe(frame, hide_index=hide_index, width="stretch")


def solution_tab(formulation: Formulation, result: SolveResult | None) -> None:
    if result is None or not result.has_solution:
        st.info("No solution values: the solver found no feasible plan.")
        return
    scalars = scalar_table(formulation, result)
    if scalars is not None:
        show_table(scalars)
    for view in variable_views(formulation, result):
        label = f"**{md_text(view.name)}**" + (f" — {md_text(view.description)}"
                                               if view.description else "")
        st.markdown(label)
        if view.chart is None:
            show_table(view.table)
            continue
        left, right = st.columns([3, 2])
        with left:
            st.altair_chart(chart_of(view), width="stretch")
        with right:
            show_table(view.table)


def chart_of(view: VariableView) -> alt.Chart:
    """Bars (categories in model order) or lines over time; both axes titled, x labels
    level so short names read without tilting the head."""
    data = view.table.copy()
    for column in (view.x_column, view.series_column):
        if column:
            data[column] = data[column].astype(str)
    order = list(dict.fromkeys(data[view.x_column]))
    x = alt.X(f"{view.x_column}:N", sort=order, title=view.x_column,
              axis=alt.Axis(labelAngle=0, labelLimit=120, labelOverlap=True))
    y = alt.Y("value:Q", title=view.description or view.name)
    chart = alt.Chart(data).mark_line(point=True) if view.chart == "line" else \
        alt.Chart(data).mark_bar()
    encoding = {"x": x, "y": y, "tooltip": [view.x_column, "value"]}
    if view.series_column:
        encoding["color"] = alt.Color(f"{view.series_column}:N", title=view.series_column)
        if view.chart == "bar":
            encoding["xOffset"] = alt.XOffset(f"{view.series_column}:N")
        encoding["tooltip"] = [view.x_column, view.series_column, "value"]
    return chart.encode(**encoding).properties(height=CHART_HEIGHT)


def data_tab(formulation: Formulation) -> None:
    scalars, tables, problem = safe_parameter_tables(formulation)
    if problem:
        st.error(f"The data could not be read: {md_text(problem)}")
        return
    if scalars is None and not tables:
        st.info("This model has no parameters.")
    if scalars is not None:
        st.markdown("**Scalar parameters**")
        show_table(scalars)
    for name, caption, table in tables:
        st.markdown(f"**{md_text(name)}**" + (f" — {md_text(caption)}" if caption else ""))
        show_table(table, hide_index=False)
