"""What the semantic checks found: interpretation alternatives offered as a clarifying
choice the user can click, and the review's findings (in the Steps tab)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nl2opt.app.actions import Action
from nl2opt.app.solution_view import show_table
from nl2opt.app.turns import Answer
from nl2opt.formulation.render import md_text
from nl2opt.formulation.wording import format_number


def alternatives_section(answer: Answer, key: str, editable: bool) -> Action | None:
    """Each choice the text leaves open: the interpretations' answers side by side, and a
    button per other interpretation that makes it the model (solved already, no LLM)."""
    action = None
    for number, choice in enumerate(answer.alternatives):
        variants = choice.get("variants", [])
        primary = next((v for v in variants if v.get("primary")), None)
        with st.container(border=True):
            lead = f"**The statement leaves a choice open:** {md_text(choice['choice'])}."
            if primary is not None:
                lead += f" This answer reads it as *{md_text(primary['name'])}*"
                lead += f" because {md_text(choice['reason'])}." if choice.get("reason") \
                    else "."
            st.markdown(lead + " Which did you mean?")
            show_table(pd.DataFrame([{"interpretation": v["name"] + (" (this answer)"
                                                                      if v.get("primary")
                                                                      else ""),
                                      "answer": _answer_text(v)} for v in variants]))
            for index, variant in enumerate(v for v in variants if not v.get("primary")):
                if editable and variant.get("formulation") and st.button(
                        f"Use “{variant['name']}”", key=f"variant_{key}_{number}_{index}",
                        help="Make this interpretation the model and solve it (no LLM)."):
                    action = Action("adopt", key, {"formulation": variant["formulation"],
                                                   "request": f"Chose: {variant['name']}"})
    return action


def _answer_text(variant: dict) -> str:
    if variant.get("error"):
        return f"not solved: {variant['error'][:120]}"
    if variant.get("termination") == "optimal":
        return format_number(variant.get("objective"))
    return variant.get("termination") or "no answer"


def review_lines(answer: Answer) -> list[str]:
    """The semantic review's findings, round by round, as Markdown list items."""
    lines = []
    for review in answer.reviews:
        where = f"Review of round {review.get('round', 0)}"
        findings = review.get("feedback") or []
        if review.get("error"):
            lines.append(f"- {where}: {md_text(review['error'])}")
        elif not findings:
            lines.append(f"- {where}: no findings")
        lines += [f"- {where}: {md_text(finding)}" for finding in findings]
        invented = review.get("invented_values") or []
        if invented:
            lines.append(f"- {where}, values the statement does not explain: "
                         + md_text("; ".join(invented[:6])))
    return lines
