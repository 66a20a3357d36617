"""How one assistant answer is shown: headline, what changed, and tabs with the details.

Tabs (drawn only when opened, so a long conversation reopens quickly): Solution
(tables and charts), Sensitivity, Model (the five elements in LaTeX), Data
(parameters as tables), Code & export, Edit JSON (re-solve without the LLM),
Steps (what the pipeline did). Earlier answers keep their details behind an
expander that is drawn only when opened.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from nl2opt.analysis.whatif import moved_values
from nl2opt.app.actions import Action
from nl2opt.app.analysis_view import analysis_answer, infeasibility_section, sensitivity_tab
from nl2opt.app.diff import diff_formulations
from nl2opt.app.export_view import export_tab
from nl2opt.app.semantic_view import alternatives_section, review_lines
from nl2opt.app.solution_view import data_tab, show_table, solution_tab
from nl2opt.app.turns import Answer
from nl2opt.formulation.model import Formulation, Sense
from nl2opt.formulation.render import md_text, render_markdown
from nl2opt.formulation.wording import capitalized, infer_units, objective_words, with_unit
from nl2opt.solvers.result import SolveResult

EDIT_ERROR = "edit_error"  # session key prefix: a problem with the user's JSON edit
STATUS = {"optimal": "Optimal", "infeasible": "Infeasible", "unbounded": "Unbounded",
          "infeasible_or_unbounded": "Infeasible or unbounded",
          "time_limit": "Time limit reached", "interrupted": "Interrupted",
          "error": "Solver error", "unknown": "Unknown"}
_KIND_STYLE = {"added": ":green[**added**]", "removed": ":red[**removed**]",
               "changed": ":orange[**changed**]"}
TABS = ["Solution", "Sensitivity", "Model", "Data", "Code & export", "Edit JSON", "Steps"]


def status_text(answer: Answer) -> str:
    return STATUS.get(answer.termination or "", answer.termination or "not solved")


def render_answer(answer: Answer, key: str, data_dir: Path | None, latest: bool = False,
                  editable: bool = False, time_limit: float | None = None,
                  current: bool = False) -> Action | None:
    """Show an answer; a click inside it comes back as an Action (see `actions`). The
    latest answer and the current model's answer show their tabs; older ones keep them
    behind an expander. Only the latest gets the toolbar (regenerate, copy, correct)."""
    if answer.error:
        st.error(md_text(answer.error))
        if answer.hint:
            st.info(md_text(answer.hint))
        _steps_expander(answer)
        return _toolbar(answer, key) if latest else None
    if answer.kind == "analysis":
        action = analysis_answer(answer, key, editable)
        _steps_expander(answer)
        return action or (_toolbar(answer, key) if latest else None)
    formulation = _formulation(answer, data_dir)
    if formulation is None:
        return None
    result = answer.result_object()
    _headline(answer, formulation)
    if answer.warning:
        st.warning(md_text(answer.warning))
    action = _explanation(answer, key, editable)
    if answer.alternatives:
        action = alternatives_section(answer, key, editable) or action
    if answer.previous_formulation is not None:
        _what_changed(answer, formulation)
    if answer.reasoning:
        st.caption(f"LLM's note: {md_text(answer.reasoning)}")
    _insights_used(answer, key)
    if latest or current:
        edited = _tabs(answer, formulation, result, key, data_dir, editable, time_limit)
        action = action or edited or (_toolbar(answer, key) if latest else None)
    else:
        with st.expander("Details: solution, sensitivity, model, data, code",
                         key=f"details_{key}", on_change="rerun") as details:
            if details.open:
                _tabs(answer, formulation, result, key, data_dir, False, time_limit)
    return action


def _formulation(answer: Answer, data_dir: Path | None) -> Formulation | None:
    try:
        return answer.formulation_object(data_dir)
    except ValueError as error:  # a stored answer from an older schema
        st.error(f"This stored model cannot be read any more: {md_text(str(error))}")
        return None


def _headline(answer: Answer, formulation: Formulation) -> None:
    title = formulation.name or "Optimization model"
    st.markdown(f"**{md_text(title)}**")
    first, second, third = st.columns(3)
    maximize = formulation.objective.sense is Sense.maximize
    unit = infer_units(formulation).objective
    delta = None
    previous = (answer.previous_result or {}).get("objective")
    if previous is not None and answer.objective is not None:
        delta = f"{with_unit(answer.objective - previous, unit, signed=True)} vs before"
    label = f"{capitalized(objective_words(formulation))} ({'max' if maximize else 'min'}" \
            "imized)"
    first.metric(label, with_unit(answer.objective, unit), delta=delta,
                 delta_color="normal" if maximize else "inverse")
    second.metric("Status", status_text(answer))
    result = answer.result or {}
    solver = result.get("solver") or "—"
    third.metric("Solver", solver, help=f"solved in {result.get('solve_seconds', 0):.3f} s")


def _explanation(answer: Answer, key: str, editable: bool) -> Action | None:
    if answer.termination == "infeasible" and answer.infeasibility:
        # The conflict in plain words replaces the solver's algebraic diagnosis (which is
        # still what the repair rounds were told: see Steps).
        return infeasibility_section(answer, key, editable)
    if not answer.explanation:
        return None
    head, _, rest = answer.explanation.partition("\n")
    if answer.termination in ("optimal", "time_limit") and answer.objective is not None:
        st.markdown(markdown_lines(answer.explanation))
        return None
    st.error(md_text(head))
    if rest.strip():
        st.markdown("**Why:**\n\n" + markdown_lines(rest))
    return None


def markdown_lines(text: str) -> str:
    """Plain lines as Markdown: '- ' items stay list items, everything else is escaped."""
    lines = []
    for line in text.splitlines():
        if line.startswith("- "):
            lines.append("- " + md_text(line[2:]))
        elif line.strip():  # blank lines around it, so it neither joins a list nor one
            lines.append("\n" + md_text(line) + "\n")
    return "\n".join(lines)


def _what_changed(answer: Answer, formulation: Formulation) -> None:
    diff = diff_formulations(answer.previous_formulation or {}, answer.formulation or {})
    st.markdown("**What changed**\n\n" + diff.markdown(lambda kind: _KIND_STYLE[kind]))
    before = SolveResult.model_validate(answer.previous_result) if answer.previous_result \
        else None
    after = answer.result_object()
    if before is None or after is None:
        return
    moved = moved_values(formulation, before, after)
    if moved:
        with st.expander("Solution before and after", expanded=True):
            frame = pd.DataFrame([{"decision": m.label, "before": m.before, "after": m.after}
                                  for m in moved]).astype({"before": float, "after": float})
            frame["change"] = frame["after"] - frame["before"]
            show_table(frame)


def _insights_used(answer: Answer, key: str) -> None:
    if not answer.insight_ids:
        return
    from nl2opt.app.library_view import insights_panel

    insights_panel(answer.insight_ids, key)


def _tabs(answer: Answer, formulation: Formulation, result: SolveResult | None, key: str,
          data_dir: Path | None, editable: bool, time_limit: float | None) -> Action | None:
    action = None
    tabs = st.tabs(TABS, key=f"tabs_{key}", on_change="rerun")
    views = [lambda: solution_tab(formulation, result),
             lambda: sensitivity_tab(formulation, answer, data_dir, time_limit),
             lambda: st.markdown(_model_markdown(formulation)),
             lambda: data_tab(formulation),
             lambda: export_tab(answer, formulation, result, key),
             lambda: _json_editor(answer, key, editable),
             lambda: _steps(answer)]
    for tab, view in zip(tabs, views):
        with tab:
            if tab.open:
                action = view() or action
    return action


def _model_markdown(formulation: Formulation) -> str:
    # The model name is already the answer's headline: drop render_markdown's H1.
    return re.sub(r"\A# .*\n?", "", render_markdown(formulation))


def _json_editor(answer: Answer, key: str, editable: bool) -> Action | None:
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
        st.error(md_text(problem))
    return Action("edit", key, {"json": edited}) if clicked else None


def _steps(answer: Answer) -> None:
    lines = [f"- {md_text(step)}" for step in answer.steps] or ["- (no steps recorded)"]
    st.markdown("\n".join(lines))
    reviewed = review_lines(answer)
    if reviewed:
        st.markdown("**Semantic review**\n\n" + "\n".join(reviewed))
    details = [f"LLM: {answer.llm}" if answer.llm else "",
               f"repair rounds used: {answer.rounds_used}" if answer.kind != "edit" else
               "edited by hand; solved without the LLM"]
    st.caption(" · ".join(md_text(d) for d in details if d))


def _steps_expander(answer: Answer) -> None:
    if answer.steps:
        with st.expander("Steps"):
            _steps(answer)


def plain_text(answer: Answer) -> str:
    """The answer as plain text, for copying."""
    if answer.error:
        return f"{answer.error}\n{answer.hint}".strip()
    if answer.kind == "analysis":
        data = answer.analysis or {}
        lines = data.get("sentences") or [*data.get("limits", []), *data.get("unused", []),
                                          *data.get("stability", [])]
        return "\n".join(lines)
    conflict = (answer.infeasibility or {}).get("conflict", [])
    return "\n".join(conflict) if conflict else answer.explanation


def _toolbar(answer: Answer, key: str) -> Action | None:
    """Regenerate, copy, and "this answer is wrong" for the latest answer."""
    first, second, third = st.columns([1, 1, 2])
    action = None
    if first.button("Regenerate", key=f"regenerate_{key}", icon=":material/refresh:",
                    help="Answer the last message again."):
        action = Action("regenerate", key)
    with second.popover("Copy", icon=":material/content_copy:"):
        st.code(plain_text(answer), language=None, wrap_lines=True)
    if answer.kind in ("formulate", "revise", "edit") and not answer.error:
        with third.popover("This answer is wrong", icon=":material/flag:"):
            action = _correction_form(key) or action
    return action


def _correction_form(key: str) -> Action | None:
    st.markdown("What should the answer be? nl2opt turns this conversation into a training "
                "task for the experience library.")
    impossible = st.checkbox("No plan should exist (the problem is infeasible)",
                             key=f"wrong_infeasible_{key}")
    value = None if impossible else st.number_input("The right objective value",
                                                    value=None, key=f"wrong_value_{key}")
    learn = st.checkbox("Learn from it now (asks the LLM; takes a while)",
                        key=f"wrong_learn_{key}")
    if st.button("Send the correction", key=f"wrong_send_{key}", type="primary",
                 disabled=value is None and not impossible):
        return Action("correct", key, {"value": value, "learn": learn,
                                       "status": "infeasible" if impossible else "optimal"})
    return None
