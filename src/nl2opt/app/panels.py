"""How one assistant answer is shown: headline, what changed, and tabs with the details.

Tabs: Solution (tables and charts), Model (the five elements in LaTeX),
Data (parameters as tables), Code (Pyomo, downloadable), JSON (edit and
re-solve without the LLM), Steps (what the pipeline did).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from nl2opt.app.charts import safe_parameter_tables, scalar_table, variable_views
from nl2opt.app.diff import diff_formulations, solution_rows
from nl2opt.app.turns import Answer
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.render import md_text, render_markdown
from nl2opt.solvers.result import SolveResult

EDIT_ERROR = "edit_error"  # session key prefix: a problem with the user's JSON edit
STATUS = {"optimal": "Optimal", "infeasible": "Infeasible", "unbounded": "Unbounded",
          "infeasible_or_unbounded": "Infeasible or unbounded",
          "time_limit": "Time limit reached", "interrupted": "Interrupted",
          "error": "Solver error", "unknown": "Unknown"}
# Material icons ship with Streamlit's web font, so they render without emoji fonts.
_KIND_STYLE = {"added": ":green[**added**]", "removed": ":red[**removed**]",
               "changed": ":orange[**changed**]"}
TABS = [":material/bar_chart: Solution", ":material/functions: Model",
        ":material/table_chart: Data", ":material/code: Code", ":material/edit: JSON",
        ":material/checklist: Steps"]


SMALL_TABLE = 25  # rows: shown as a static table (instant, printable); larger ones scroll


def show_table(frame: pd.DataFrame, hide_index: bool = True) -> None:
    """A static table when small, an interactive (scrolling, sortable) one when large."""
    if len(frame) <= SMALL_TABLE:
        floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
        styled = frame.style.format(number, subset=floats, na_rep="—")
        if not hide_index and pd.api.types.is_float_dtype(frame.index):
            styled = styled.format_index(number)
        st.table(styled, hide_index=hide_index, border="horizontal")
    else:
        st.dataframe(frame, hide_index=hide_index, width="stretch")


def status_text(answer: Answer) -> str:
    return STATUS.get(answer.termination or "", answer.termination or "not solved")


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:,.6g}"


def render_answer(answer: Answer, key: str, data_dir: Path | None,
                  editable: bool = False) -> str | None:
    """Show an answer; with `editable`, return the edited JSON when Re-solve is pressed."""
    if answer.error:
        st.error(answer.error)
        if answer.hint:
            st.info(answer.hint)
        _steps_expander(answer)
        return None
    formulation = _formulation(answer, data_dir)
    result = answer.result_object()
    if formulation is None:
        return None
    _headline(answer, formulation)
    if answer.warning:
        st.warning(answer.warning)
    _explanation(answer)
    if answer.previous_formulation is not None:
        _what_changed(answer)
    if answer.reasoning:
        st.caption(f"LLM's note: {answer.reasoning}")
    tabs = st.tabs(TABS)
    with tabs[0]:
        _solution(formulation, result)
    with tabs[1]:
        st.markdown(_model_markdown(formulation))
    with tabs[2]:
        _data(formulation)
    with tabs[3]:
        _code(answer, key)
    with tabs[4]:
        edited = _json_editor(answer, key, editable)
    with tabs[5]:
        _steps(answer)
    return edited


def _formulation(answer: Answer, data_dir: Path | None) -> Formulation | None:
    try:
        return answer.formulation_object(data_dir)
    except ValueError as error:  # a stored answer from an older schema
        st.error(f"This stored model cannot be read any more: {error}")
        return None


def _headline(answer: Answer, formulation: Formulation) -> None:
    title = formulation.name or "Optimization model"
    st.markdown(f"**{md_text(title)}**")
    first, second, third = st.columns(3)
    sense = formulation.objective.sense.value
    delta = None
    previous = (answer.previous_result or {}).get("objective")
    if previous is not None and answer.objective is not None:
        delta = f"{answer.objective - previous:+,.6g} vs before"
    first.metric(f"Objective ({sense})", number(answer.objective), delta=delta,
                 delta_color="normal" if sense == "maximize" else "inverse")
    second.metric("Status", status_text(answer))
    result = answer.result or {}
    solver = result.get("solver") or "—"
    third.metric("Solver", solver, help=f"solved in {result.get('solve_seconds', 0):.3f} s")


def _explanation(answer: Answer) -> None:
    if not answer.explanation:
        return
    head, _, rest = answer.explanation.partition("\n")
    if answer.termination == "optimal":
        st.markdown(_markdown_lines(answer.explanation))
        return
    st.error(head)
    if rest.strip():
        st.markdown("**Why:**\n\n" + _markdown_lines(rest))


def _markdown_lines(text: str) -> str:
    """Plain lines as Markdown: '- ' items stay list items, everything else is escaped."""
    lines = []
    for line in text.splitlines():
        if line.startswith("- "):
            lines.append("- " + md_text(line[2:]))
        elif line.strip():  # blank lines around it, so it neither joins a list nor one
            lines.append("\n" + md_text(line) + "\n")
    return "\n".join(lines)


def _what_changed(answer: Answer) -> None:
    diff = diff_formulations(answer.previous_formulation or {}, answer.formulation or {})
    st.markdown("**What changed**\n\n" + diff.markdown(lambda kind: _KIND_STYLE[kind]))
    rows = solution_rows(answer.previous_result, answer.result)
    if rows:
        with st.expander("Solution before and after", expanded=True):
            show_table(pd.DataFrame(rows))


def _solution(formulation: Formulation, result: SolveResult | None) -> None:
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
            if view.chart == "line":
                st.line_chart(view.chart_data, height=240)
            else:
                st.bar_chart(view.chart_data, height=240, stack=False, sort=False)
        with right:
            show_table(view.table)


def _model_markdown(formulation: Formulation) -> str:
    # The model name is already the answer's headline: drop render_markdown's H1.
    return re.sub(r"\A# .*\n?", "", render_markdown(formulation))


def _data(formulation: Formulation) -> None:
    scalars, tables, problem = safe_parameter_tables(formulation)
    if problem:
        st.error(f"The data could not be read: {problem}")
        return
    if scalars is None and not tables:
        st.info("This model has no parameters.")
    if scalars is not None:
        st.markdown("**Scalar parameters**")
        show_table(scalars)
    for name, caption, table in tables:
        st.markdown(f"**{md_text(name)}**" + (f" — {md_text(caption)}" if caption else ""))
        show_table(table, hide_index=False)


def _code(answer: Answer, key: str) -> None:
    code = answer.code or "# no code was generated\n"
    st.download_button("Download the Pyomo script", code, file_name="model.py",
                       mime="text/x-python", key=f"download_{key}",
                       icon=":material/download:")
    st.code(code, language="python")


def _json_editor(answer: Answer, key: str, editable: bool) -> str | None:
    text = json.dumps(answer.formulation, indent=2, ensure_ascii=False)
    if not editable:
        st.caption("Only the latest model can be edited; this is an earlier one.")
        st.code(text, language="json")
        return None
    st.caption("Edit the model and re-solve it directly; the LLM is not called.")
    edited = st.text_area("Formulation JSON", text, height=360, key=f"json_{key}")
    clicked = st.button("Re-solve the edited model", key=f"resolve_{key}",
                        icon=":material/play_arrow:", type="primary")
    problem = st.session_state.get(f"{EDIT_ERROR}_{key}")
    if problem:
        st.error(problem)
    return edited if clicked else None


def _steps(answer: Answer) -> None:
    lines = [f"- {md_text(step)}" for step in answer.steps] or ["- (no steps recorded)"]
    st.markdown("\n".join(lines))
    details = [f"LLM: {answer.llm}" if answer.llm else "",
               f"repair rounds used: {answer.rounds_used}" if answer.kind != "edit" else
               "edited by hand; solved without the LLM"]
    st.caption(" · ".join(d for d in details if d))


def _steps_expander(answer: Answer) -> None:
    if answer.steps:
        with st.expander("Steps"):
            _steps(answer)
