"""Handling a chat message, a JSON edit or an adopted change: run the turn live, store it,
rerun the page.

Every message is written to the history as soon as it exists (the user's
before the LLM is asked, the answer as soon as it is ready), so closing the
tab or restarting the server loses nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import streamlit as st

from nl2opt.app import state
from nl2opt.app.connection import get_llm
from nl2opt.app.followups import followup_answer
from nl2opt.app.history import History
from nl2opt.app.panels import EDIT_ERROR, status_text
from nl2opt.app.settings import Settings, current_values
from nl2opt.app.state import ConversationView
from nl2opt.app.turns import Answer, edit_answer, failure, formulate_answer, parse_edited
from nl2opt.app.uploads import current_data_dir, data_files, describe_csv, version_name, with_data
from nl2opt.formulation.wording import format_number

TITLE_LENGTH = 60
STREAM_TAIL = 1200  # characters of the LLM's text shown while it writes
PLACEHOLDER_TITLE = "New conversation"
EMBEDDING_CLIENTS = "embedding_clients"  # session state: spec -> EmbeddingClient
DEMO_DATA_NOTE = ("Demo mode: the recorded examples bring their own data, so the uploaded "
                  "files were not used (they are kept for when you choose an LLM).")


def title_from(text: str) -> str:
    """A conversation title: the first line of the first message, shortened."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "Untitled")
    return line if len(line) <= TITLE_LENGTH else line[:TITLE_LENGTH - 1].rstrip() + "…"


def summary(answer: Answer) -> str:
    """The one-line text stored for an assistant message."""
    if answer.error:
        return answer.error
    if answer.kind == "analysis":
        return f"Answered with the {answer.tool.replace('_', ' ')} tool"
    return f"{status_text(answer)}: objective {format_number(answer.objective)}"


def ensure_conversation(history: History, view: ConversationView, title: str) -> int:
    """The open conversation's id, creating (and opening) one if needed."""
    if view.conversation is None:
        conversation = history.create(history.distinct_title(title))
        state.select(conversation.id)
        return conversation.id
    if not view.messages and view.conversation.title == PLACEHOLDER_TITLE:
        history.rename(view.conversation.id, history.distinct_title(title, view.conversation.id),
                       by_person=False)
    return view.conversation.id


def handle_message(text: str, history: History, view: ConversationView,
                   settings: Settings) -> None:
    """Formulate (first message) or answer a follow-up, live, then store and rerun."""
    conversation_id = ensure_conversation(history, view, title_from(text))
    history.add_message(conversation_id, "user", text)
    history.set_settings(conversation_id, current_values())
    with st.chat_message("user"):
        st.markdown(text)
    answer_live(text, history, view, settings, conversation_id)


def answer_live(text: str, history: History, view: ConversationView, settings: Settings,
                conversation_id: int) -> None:
    """Run the turn for `text` in a live status box, store the answer, rerun."""
    label = "Formulating and solving ..." if view.current() is None else "Working on it ..."
    with st.chat_message("assistant"), st.status(label, expanded=True) as status:
        data_dir = current_data_dir(history.data_dir(conversation_id))
        notes: list[str] = []
        if settings.demo and data_files(data_dir):
            notes.append(DEMO_DATA_NOTE)
            status.write(DEMO_DATA_NOTE)
        live = st.empty()
        answer = _run_turn(text, history, view, settings, conversation_id, data_dir,
                           status.write, stream=live_text(live))
        live.empty()
        answer.steps[:0] = notes
        answer.data_version = version_name(data_dir)
        done = "Could not answer" if answer.error else summary(answer)
        status.update(label=done, state="error" if answer.error else "complete",
                      expanded=False)
    store_answer(history, conversation_id, answer)
    st.rerun()


def store_answer(history: History, conversation_id: int, answer: Answer) -> None:
    """Save the answer; the first model's name becomes the title (unless renamed)."""
    history.add_message(conversation_id, "assistant", summary(answer),
                        answer.model_dump(mode="json"))
    conversation = history.get(conversation_id)
    name = (answer.formulation or {}).get("name", "").strip()
    if conversation and conversation.auto_title and name and answer.kind == "formulate":
        history.rename(conversation_id, history.distinct_title(name, conversation_id),
                       by_person=False)


def live_text(placeholder, every: float = 0.2):
    """A callback showing the LLM's text as it is written (the last lines, a few times a
    second: redrawing on every piece would slow the stream down)."""
    shown = [0.0]

    def show(text: str) -> None:
        now = time.monotonic()
        if now - shown[0] >= every:
            shown[0] = now
            placeholder.code(text[-STREAM_TAIL:], language="json", wrap_lines=True)
    return show


def streamed(llm, stream):
    """The LLM with its answers streamed to `stream`, where the backend can stream."""
    from nl2opt.llm.openai_backend import OpenAIBackend

    if stream is None or not isinstance(llm, OpenAIBackend):
        return llm
    from nl2opt.llm.streaming import StreamingBackend

    return StreamingBackend(llm, stream)


def _run_turn(text: str, history: History, view: ConversationView, settings: Settings,
              conversation_id: int, data_dir: Path, progress, stream=None) -> Answer:
    files = [] if settings.demo else data_files(data_dir)
    options = settings.options(str(data_dir))
    current = view.current()
    kind = "formulate" if current is None else "revise"
    try:
        llm = streamed(get_llm(settings), stream)
    except Exception as error:  # bad spec, vLLM missing, server down: say so in the chat
        return failure(kind, text, error, llm=None)
    if current is None:
        problem = with_data(text, files)
        history.set_problem(conversation_id, problem)
        notes: list[str] = []  # what the library says (e.g. dense retrieval is off)

        def note(line: str) -> None:
            notes.append(line)
            progress(line)

        answer = formulate_answer(problem, llm, options, progress, request=problem,
                                  insights=_insights(settings, llm, note))
        answer.steps = [*notes, *answer.steps]
        return answer
    told = view.seen_by_llm()
    # A file is new to the LLM unless it saw this very preview (a re-upload is new).
    new_files = [path for path in files if describe_csv(path) not in told]
    formulation = current.formulation_object(data_dir)
    assert formulation is not None  # current() only returns answers with a model
    problem = view.conversation.problem if view.conversation else text
    return followup_answer(problem, view.changes(), current, formulation, text, llm, options,
                           progress, llm_request=with_data(text, new_files))


def _insights(settings: Settings, llm, progress):
    """The experience library's insight provider, when the settings ask for one."""
    if not settings.use_library:
        return None
    from nl2opt.api import insight_provider
    from nl2opt.app.library_view import library_path

    path = library_path(settings.library_path)
    if settings.demo or not path.exists():
        progress("Experience library not used: " + (
            "the recorded demos were made without one" if settings.demo
            else f"there is no library file at {path} yet"))
        return None
    return insight_provider(path, llm, _embedding_client(settings.library_embeddings,
                                                          progress))


def _embedding_client(spec: str, progress):
    """The session's client for `spec`, so the library's vectors stay cached between
    answers. A failed endpoint is tried again on each answer; a failure, or a bad spec,
    is told in this answer's progress and the answer goes on without dense ranking."""
    if not spec:
        return None
    from nl2opt.errors import Nl2OptError
    from nl2opt.library.retrieval import embedding_client

    clients = st.session_state.setdefault(EMBEDDING_CLIENTS, {})
    try:
        client = clients.get(spec) or embedding_client(spec)
    except Nl2OptError as error:
        progress(f"Dense retrieval not used: {error}")
        return None
    clients[spec] = client
    client.failure, client.warn = None, progress
    return client


def regenerate(history: History, view: ConversationView, settings: Settings) -> None:
    """Drop the last answer and answer the last message again."""
    messages = view.messages
    if len(messages) < 2 or messages[-1].role != "assistant" or messages[-2].role != "user":
        return
    history.delete_message(messages[-1].id)
    assert view.conversation is not None
    fresh = ConversationView.load(history, view.conversation.id)
    answer_live(messages[-2].content, history, fresh, settings, view.conversation.id)


def handle_edit(edited: str, key: str, history: History, view: ConversationView,
                settings: Settings, request: str = "") -> None:
    """Re-solve an edited (or adopted) formulation without the LLM. Problems are shown
    under the editor (and not stored); a solved edit becomes a new turn."""
    formulation, problem = parse_edited(edited)
    if formulation is None:
        st.session_state[f"{EDIT_ERROR}_{key}"] = problem
        st.rerun()
    conversation_id = ensure_conversation(history, view, "Edited model")
    data_dir = current_data_dir(history.data_dir(conversation_id))
    with st.spinner("Solving the changed model ..."):
        answer = edit_answer(edited, data_dir, view.current(), settings.options(str(data_dir)),
                             **({"request": request} if request else {}))
    answer.data_version = version_name(data_dir)
    if answer.error:
        st.session_state[f"{EDIT_ERROR}_{key}"] = f"{answer.error} {answer.hint}"
        st.rerun()
    st.session_state.pop(f"{EDIT_ERROR}_{key}", None)
    history.add_message(conversation_id, "user", ("✏️ " if not request else "") + answer.request)
    store_answer(history, conversation_id, answer)
    st.rerun()


def adopt(formulation: dict, request: str, key: str, history: History, view: ConversationView,
          settings: Settings) -> None:
    """Make a what-if, why-not or repair model the current one (no LLM)."""
    handle_edit(json.dumps(formulation), key, history, view, settings, request=request)
