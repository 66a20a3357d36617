"""Handling a chat message or a JSON edit: run the turn live, store it, rerun the page.

Every message is written to the history as soon as it exists (the user's
before the LLM is asked, the answer as soon as it is ready), so closing the
tab or restarting the server loses nothing.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from nl2opt.app import state
from nl2opt.app.history import History
from nl2opt.app.panels import EDIT_ERROR, number, status_text
from nl2opt.app.settings import Settings, get_llm
from nl2opt.app.state import ConversationView
from nl2opt.app.turns import (Answer, edit_answer, failure, formulate_answer, parse_edited,
                              revise_answer)
from nl2opt.app.uploads import (current_data_dir, data_files, describe_csv, version_name,
                                with_data)

TITLE_LENGTH = 60
PLACEHOLDER_TITLE = "New conversation"


def title_from(text: str) -> str:
    """A conversation title: the first line of the first message, shortened."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "Untitled")
    return line if len(line) <= TITLE_LENGTH else line[:TITLE_LENGTH - 1].rstrip() + "…"


def summary(answer: Answer) -> str:
    """The one-line text stored for an assistant message."""
    if answer.error:
        return answer.error
    return f"{status_text(answer)}: objective {number(answer.objective)}"


def ensure_conversation(history: History, view: ConversationView, title: str) -> int:
    """The open conversation's id, creating (and opening) one if needed."""
    if view.conversation is None:
        conversation = history.create(title)
        state.select(conversation.id)
        return conversation.id
    if not view.messages and view.conversation.title == PLACEHOLDER_TITLE:
        history.rename(view.conversation.id, title)
    return view.conversation.id


def handle_message(text: str, history: History, view: ConversationView,
                   settings: Settings) -> None:
    """Formulate (first message) or revise (follow-up), live, then store and rerun."""
    conversation_id = ensure_conversation(history, view, title_from(text))
    history.add_message(conversation_id, "user", text)
    with st.chat_message("user"):
        st.markdown(text)
    current = view.current()
    label = "Formulating and solving ..." if current is None else "Revising the model ..."
    with st.chat_message("assistant"):
        with st.status(label, expanded=True) as status:
            data_dir = current_data_dir(history.data_dir(conversation_id))
            answer = _run_turn(text, history, view, settings, conversation_id, data_dir,
                               status.write)
            answer.data_version = version_name(data_dir)
            done = "Could not answer" if answer.error else summary(answer)
            status.update(label=done, state="error" if answer.error else "complete",
                          expanded=False)
    history.add_message(conversation_id, "assistant", summary(answer),
                        answer.model_dump(mode="json"))
    st.rerun()


def _run_turn(text: str, history: History, view: ConversationView, settings: Settings,
              conversation_id: int, data_dir: Path, progress) -> Answer:
    files = data_files(data_dir)
    options = settings.options(str(data_dir))
    current = view.current()
    kind = "formulate" if current is None else "revise"
    try:
        llm = get_llm(settings)
    except Exception as error:  # bad spec, vLLM missing, ...: say so in the chat
        return failure(kind, text, error)
    if current is None:
        problem = with_data(text, files)
        history.set_problem(conversation_id, problem)
        return formulate_answer(problem, llm, options, progress, request=problem)
    told = view.seen_by_llm()
    # A file is new to the LLM unless it saw this very preview (a re-upload is new).
    new_files = [path for path in files if describe_csv(path) not in told]
    request = with_data(text, new_files)
    formulation = current.formulation_object(data_dir)
    assert formulation is not None  # current() only returns answers with a model
    problem = view.conversation.problem if view.conversation else text
    return revise_answer(problem, view.changes(), formulation, current.result, request, llm,
                         options, progress)


def handle_edit(edited: str, key: str, history: History, view: ConversationView,
                settings: Settings) -> None:
    """Re-solve an edited formulation without the LLM. Problems are shown under the editor
    (and not stored); a solved edit becomes a new turn."""
    formulation, problem = parse_edited(edited)
    if formulation is None:
        st.session_state[f"{EDIT_ERROR}_{key}"] = problem
        st.rerun()
    conversation_id = ensure_conversation(history, view, "Edited model")
    data_dir = current_data_dir(history.data_dir(conversation_id))
    with st.spinner("Solving the edited model ..."):
        answer = edit_answer(edited, data_dir, view.current(), settings.options(str(data_dir)))
    answer.data_version = version_name(data_dir)
    if answer.error:
        st.session_state[f"{EDIT_ERROR}_{key}"] = f"{answer.error} {answer.hint}"
        st.rerun()
    st.session_state.pop(f"{EDIT_ERROR}_{key}", None)
    history.add_message(conversation_id, "user", "✏️ " + answer.request)
    history.add_message(conversation_id, "assistant", summary(answer),
                        answer.model_dump(mode="json"))
    st.rerun()
