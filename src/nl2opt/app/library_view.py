"""The experience library in the app: the insights an answer used, the Library page
(browse, search, edit, approve, retire, history), and corrections ("this answer is
wrong, the right value is ...") turned into training tasks.

The library file is the one named in the sidebar, else `library.db` next to the
conversation history.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from nl2opt.formulation.render import md_text
from nl2opt.library.model import Insight, Status
from nl2opt.library.store import LibraryError, LibraryStore

PAGE_SIZE = 30
DEFAULT_NAME = "library.db"


def library_path(chosen: str = "") -> Path:
    """The library file: the sidebar's choice, else library.db next to the history."""
    if chosen.strip():
        return Path(chosen.strip()).expanduser()
    from nl2opt.app.history import default_db_path

    return default_db_path().parent / DEFAULT_NAME


def _open(path: Path, create: bool = False) -> LibraryStore | None:
    try:
        return LibraryStore(path, create=create)
    except LibraryError:
        return None


# -- on an answer ---------------------------------------------------------------------------
def insights_panel(insight_ids: list[str], key: str) -> None:
    """"Insights used (n)": what the library told the LLM for this answer."""
    with st.expander(f"Insights used ({len(insight_ids)})", key=f"insights_{key}",
                     on_change="rerun") as panel:
        if not panel.open:
            return
        store = _open(library_path(st.session_state.get("library_path", "")))
        found = {i: store.get(i) for i in insight_ids} if store else {}
        if store:
            store.close()
        for insight_id in insight_ids:
            insight = found.get(insight_id)
            if insight is None:
                st.markdown(f"- `{md_text(insight_id)}` (no longer in the library file)")
                continue
            st.markdown(f"- **{md_text(insight.label)}** — {md_text(insight.condition)}  \n"
                        f"  {md_text(insight.explanation)}")


def save_correction(problem: str, formulation: dict | None, value: float | None,
                    status: str, chosen: str, learn_with=None) -> str:
    """Store the correction as a training task (and learn from it at once when an LLM is
    given); the message to show."""
    from nl2opt.library.correction import correction_task, learn_from_correction

    path = library_path(chosen)
    store = _open(path, create=True)
    if store is None:
        return f"The library file {path} cannot be opened."
    with store:
        task = correction_task(problem, formulation, value, status)
        store.put_task(task)
        if learn_with is None:
            return (f"Saved as training task {task.uid} in {path}. `nl2opt library learn` "
                    "(or “Learn from it now”) turns it into insights.")
        summary = learn_from_correction(store, learn_with, problem, formulation, value, status)
    outcome = next(iter(summary.outcomes.values()), "nothing to learn")
    return (f"Learned from the correction (task {task.uid}): {outcome}; "
            f"{len(summary.insights)} new verified insight(s).")


# -- the Library page -----------------------------------------------------------------------
def library_page(chosen: str) -> None:
    st.title("Experience library")
    path = library_path(chosen)
    st.caption(f"File: {md_text(str(path))} · change it in the sidebar (Use an experience "
               "library).")
    store = _open(path)
    if store is None:
        st.info("There is no library file yet. It is created when you send a correction "
                "(“This answer is wrong”) or run `nl2opt library learn`.")
        return
    with store:
        counts = {status.value: store.count(status) for status in Status}
        st.markdown(" · ".join(f"**{n}** {s}" for s, n in counts.items()))
        left, right = st.columns([3, 2])
        text = left.text_input("Search", key="library_search",
                               placeholder="words from the condition, explanation or label")
        statuses = right.multiselect("Status", [s.value for s in Status],
                                     default=["candidate", "verified"], key="library_status")
        found = store.search(text, [Status(s) for s in statuses]) if statuses else []
        shown = found[:PAGE_SIZE]
        st.caption(f"{len(found)} insight(s)" + (f", the first {PAGE_SIZE} shown"
                                                 if len(found) > PAGE_SIZE else ""))
        if shown:
            st.dataframe(pd.DataFrame([_row(i) for i in shown]), hide_index=True,
                         width="stretch")
            by_id = {i.id: i for i in shown}
            chosen = st.selectbox("Open an insight", list(by_id), key="library_open",
                                  format_func=lambda i: f"{by_id[i].condition[:90]} ({i})")
            if chosen in by_id:
                _insight_card(store, by_id[chosen])
        _corrections(store)


def _row(insight: Insight) -> dict:
    counts = insight.stats.counts()
    return {"status": insight.status.value, "topic": insight.label,
            "condition": insight.condition, "helped": counts["positive"],
            "misled": counts["negative"], "id": insight.id}


def _insight_card(store: LibraryStore, insight: Insight) -> None:
    with st.container(border=True):
        st.markdown(f"**{md_text(insight.label)}** ({insight.status.value})\n\n"
                    f"**When:** {md_text(insight.condition)}\n\n"
                    f"**What to do:** {md_text(insight.explanation)}")
        if insight.example:
            st.code(insight.example, language=None, wrap_lines=True)
        counts = insight.stats.counts()
        st.caption(f"{md_text(insight.id)} · version {insight.version} · origin "
                   f"{md_text(insight.provenance.origin)} · " +
                   ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        _edit_form(store, insight)
        first, second = st.columns(2)
        if insight.status is not Status.verified and first.button(
                "Approve", key=f"approve_{insight.id}", icon=":material/check:"):
            store.approve(insight.id)
            st.rerun()
        if insight.status is not Status.retired and second.button(
                "Retire", key=f"retire_{insight.id}", icon=":material/archive:"):
            store.retire(insight.id)
            st.rerun()
        history = store.history(insight.id)
        if history:
            st.markdown("**History**\n\n" + "\n".join(
                f"- v{v.version} · {md_text(v.changed_at)} · {md_text(v.reason)}"
                for v in history))


def _edit_form(store: LibraryStore, insight: Insight) -> None:
    with st.form(f"edit_{insight.id}", border=False):
        condition = st.text_area("Condition (when it applies)", insight.condition, height=80)
        explanation = st.text_area("Explanation (what to do)", insight.explanation,
                                   height=100)
        example = st.text_area("Example", insight.example, height=80)
        if st.form_submit_button("Save changes"):
            if not condition.strip() or not explanation.strip():
                st.error("Condition and explanation cannot be empty.")
                return
            store.edit(insight.id, condition=condition, explanation=explanation,
                       example=example, reason="edited in the app")
            st.rerun()


def _corrections(store: LibraryStore) -> None:
    tasks = [task for task in store.tasks() if task.dataset == "person"]
    if not tasks:
        return
    st.subheader("Corrections waiting to be learned from")
    for task in tasks[:PAGE_SIZE]:
        right = "no plan should exist" if task.answer is None else f"right value {task.answer:g}"
        st.markdown(f"- {md_text(task.question[:120])} … — {right} (`{task.uid}`)")
