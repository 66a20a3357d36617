"""Solver-backed answers after the solve: what-if, why-not, sensitivity, and the repairs
of an infeasible model, each with the button that makes its model the current one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from nl2opt.app.actions import Action
from nl2opt.app.solution_view import show_table
from nl2opt.app.turns import Answer
from nl2opt.errors import Nl2OptError
from nl2opt.formulation.model import Formulation
from nl2opt.formulation.render import md_text
from nl2opt.formulation.wording import instance_words, variable_words

TITLES = {"what_if": "What if", "why_not": "Why not", "sensitivity": "What the limits are worth",
          "explain": "The current plan"}


def bullet_list(lines: list[str]) -> str:
    return "\n".join(f"- {md_text(line)}" for line in lines)


# -- infeasible answers ---------------------------------------------------------------------
def infeasibility_section(answer: Answer, key: str, editable: bool) -> Action | None:
    """The conflict in plain words first, then the verified repairs (apply: one click)."""
    found = answer.infeasibility or {}
    conflict, repairs = found.get("conflict", []), found.get("repairs", [])
    if not conflict:
        return None
    headline, *rest = conflict
    st.error(md_text(headline))
    if rest:
        items = [line.removeprefix("- ") for line in rest if line.startswith("- ")]
        lead = next((line for line in rest if not line.startswith("- ")), "")
        st.markdown((f"{md_text(lead)}\n\n" if lead else "") + bullet_list(items))
    if not repairs:
        return None
    st.markdown("**Ways to make a plan possible** (each checked by solving the changed model):")
    action = None
    for number, repair in enumerate(repairs):
        text, outcome = repair["text"], repair.get("outcome", "")
        comparison = repair.get("comparison") or {}
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.markdown(f"{md_text(text)}  \n{md_text(outcome)}")
        if comparison.get("formulation") and editable and \
                right.button("Apply", key=f"repair_{key}_{number}", type="primary",
                             help="Make this the model and solve it (no LLM)."):
            action = Action("adopt", key, {"formulation": comparison["formulation"],
                                           "request": f"Applied: {text}"})
    return action


# -- analysis answers -----------------------------------------------------------------------
def analysis_answer(answer: Answer, key: str, editable: bool) -> Action | None:
    """An answer from a tool: its sentences, the decisions that moved, and "keep it"."""
    data = answer.analysis or {}
    st.markdown(f"**{TITLES.get(answer.tool, 'Answer')}**")
    if answer.tool == "sensitivity":
        sensitivity_sentences(data)
        return None
    st.markdown(bullet_list(data.get("sentences", [])))
    moved = data.get("moved", [])
    if moved:
        frame = pd.DataFrame([{"decision": m["label"], "now": m.get("before"),
                               "then": m.get("after")} for m in moved])
        frame["change"] = frame["then"] - frame["now"]
        show_table(frame)
    feasible = data.get("termination") == "optimal"
    if editable and feasible and data.get("formulation") and \
            st.button("Make this the model", key=f"adopt_{key}", icon=":material/check:",
                      help="Keep this change: it becomes the current model (no LLM)."):
        return Action("adopt", key, {"formulation": data["formulation"],
                                     "request": f"Kept: {data.get('question', '')}"})
    return None


def sensitivity_sentences(data: dict) -> None:
    groups = [("Scarce limits", data.get("limits", [])),
              ("Options the plan leaves out", data.get("unused", [])),
              ("How stable the plan is", data.get("stability", []))]
    for title, lines in groups:
        if lines:
            st.markdown(f"*{title}*\n\n" + bullet_list(lines))
    if not any(lines for _, lines in groups):
        st.markdown("No limit is binding and no option is left out: small changes of the "
                    "data leave this plan's value unchanged.")
    if data.get("note"):
        st.caption(md_text(data["note"]))


# -- the Sensitivity tab --------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=64)
def _sensitivity(formulation_json: str, data_dir: str, time_limit: float | None) -> dict:
    from nl2opt.app.followups import sensitivity_payload

    formulation = Formulation.model_validate_json(formulation_json)
    if data_dir:
        formulation = formulation.with_data_dir(data_dir)
    return sensitivity_payload(formulation, time_limit)


def sensitivity_tab(formulation: Formulation, answer: Answer, data_dir: Path | None,
                    time_limit: float | None) -> None:
    if answer.termination != "optimal":
        st.info("Sensitivity describes an optimal plan; this answer has none.")
        return
    try:
        data = _sensitivity(formulation.to_json(indent=None), str(data_dir or ""), time_limit)
    except Nl2OptError as error:
        st.info(f"No sensitivity for this model: {md_text(str(error))}")
        return
    sensitivity_sentences(data)
    rows = data["sensitivity"]["rows"]
    limits = [{"constraint": r["name"], "for": instance_words(r["index"]),
               "level": r["activity"], "shadow price": r["dual"],
               "holds from": r.get("limit_low"), "holds to": r.get("limit_high")}
              for r in rows if r["binding"]]
    if limits:
        with st.expander("Binding limits as a table"):
            show_table(pd.DataFrame(limits))
    columns = [{"decision": variable_words(formulation, c["name"]),
                "for": instance_words(c["index"]), "value": c["value"],
                "reduced cost": c["reduced_cost"], "cost from": c.get("cost_low"),
                "cost to": c.get("cost_high")}
               for c in data["sensitivity"]["columns"]]
    if columns:
        with st.expander("Decisions as a table"):
            show_table(pd.DataFrame(columns))
