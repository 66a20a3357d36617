"""The Chat page: the conversation, the examples, the chat box, and what clicks ask for."""

from __future__ import annotations

import streamlit as st

from nl2opt.app import state
from nl2opt.app.actions import Action
from nl2opt.app.chat import adopt, handle_edit, handle_message, regenerate
from nl2opt.app.connection import check_connection, get_llm
from nl2opt.app.demo import demo_conversations, next_demo_step
from nl2opt.app.history import History
from nl2opt.app.panels import render_answer
from nl2opt.app.settings import Settings, remember, sidebar_settings
from nl2opt.app.sidebar import conversations_section, uploads_section
from nl2opt.app.state import ConversationView
from nl2opt.app.turns import Answer
from nl2opt.formulation.render import md_text

TITLE = "nl2opt · decisions in plain words, solved"
TAGLINE = ("Describe a decision problem in everyday language. nl2opt writes a checked "
           "optimization model, solves it, explains the answer in your words, and answers "
           "follow-ups with the solver: what if, why not, what a resource is worth.")
PENDING = "pending_prompt"
NOTICE = "notice"
DEMO_MISS = "Demo mode only knows the recorded example"


def queue(text: str) -> None:
    """Send `text` as the next chat message (button callbacks)."""
    st.session_state[PENDING] = text


def examples(settings: Settings, where: str) -> None:
    """The example problems as buttons (recorded in demo mode; sent to the LLM otherwise)."""
    st.markdown("**Try an example**")
    listed = demo_conversations()
    for column, example in zip(st.columns(len(listed)), listed):
        with column:
            st.button(example.label, key=f"example_{example.key}{where}", on_click=queue,
                      args=(example.problem,), width="stretch", icon=example.icon)
            st.caption(_shorten(example.problem, 170))
    if not settings.demo:
        st.caption("These go to the LLM chosen in the sidebar.")


def intro(settings: Settings) -> None:
    """What an empty conversation shows: how to start, and the examples."""
    if settings.demo:
        st.info("**Demo mode**: no GPU needed. The answers are replayed from recorded example "
                "conversations (written by hand, not by a model). Pick an example below; "
                "choose an LLM in the sidebar to ask your own questions.",
                icon=":material/lightbulb:")
    else:
        st.markdown("Try something like: *A bakery makes bread and cakes ... how many of "
                    "each should it bake to maximize profit?* Attach data tables in the "
                    "sidebar.")
    examples(settings, "")


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rsplit(" ", 1)[0] + " …"


def show_conversation(view: ConversationView, settings: Settings) -> Action | None:
    """Every stored message; the latest model gets the editor and the toolbar."""
    current_id = view.current_message_id()
    latest = view.latest()
    latest_id = latest[0].id if latest else None
    action = None
    for message in view.messages:
        with st.chat_message(message.role):
            if message.role == "user" or not message.answer:
                st.markdown(md_text(message.content) if message.role == "assistant"
                            else message.content)
                continue
            answer = Answer.model_validate(message.answer)
            found = render_answer(answer, f"m{message.id}", view.data_dir_for(answer),
                                  latest=message.id == latest_id,
                                  editable=message.id in (current_id, latest_id),
                                  time_limit=settings.time_limit,
                                  current=message.id == current_id)
            action = found or action
            if message.id == latest_id and answer.error.startswith(DEMO_MISS):
                examples(settings, f"_m{message.id}")
    return action


def suggest_followup(view: ConversationView, settings: Settings) -> None:
    if not settings.demo:
        return
    step = next_demo_step(view.turns())
    if step is not None:
        st.button(f"Try a follow-up: “{step.request}”", key="followup", on_click=queue,
                  args=(step.request,), icon=":material/chat:")


def connection_test(settings: Settings) -> None:
    if st.sidebar.button("Test connection", key="test_connection", icon=":material/wifi:"):
        found = check_connection(settings)
        (st.sidebar.success if found.ok else st.sidebar.error)(md_text(found.message))


def carry_out(action: Action, history: History, view: ConversationView,
              settings: Settings) -> None:
    if action.kind == "edit":
        handle_edit(action.payload["json"], action.key, history, view, settings)
    elif action.kind == "adopt":
        adopt(action.payload["formulation"], action.payload["request"], action.key, history,
              view, settings)
    elif action.kind == "regenerate":
        regenerate(history, view, settings)
    elif action.kind == "correct":
        _correct(action, view, settings)


def _correct(action: Action, view: ConversationView, settings: Settings) -> None:
    from nl2opt.app.library_view import save_correction

    current = view.current()
    problem = view.conversation.problem if view.conversation else ""
    learn_with = None
    if action.payload.get("learn"):
        if settings.demo:
            st.session_state[NOTICE] = ("Learning needs an LLM: the correction was saved; "
                                        "choose an LLM and learn from it later.")
        else:
            learn_with = get_llm(settings)
    with st.spinner("Saving the correction ..."):
        message = save_correction(problem, current.formulation if current else None,
                                  action.payload.get("value"), action.payload["status"],
                                  settings.library_path, learn_with)
    st.session_state[NOTICE] = " ".join(filter(None, [st.session_state.get(NOTICE), message]))
    st.rerun()


def chat_page() -> None:
    history = History()
    open_id = state.open_id(history)
    conversations_section(history, open_id)
    view = ConversationView.load(history, open_id)
    uploads_section(history, view)
    settings = sidebar_settings()
    connection_test(settings)
    remember(history)
    st.title(TITLE)
    st.caption(TAGLINE)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(md_text(notice))
    if not view.messages:
        intro(settings)
    action = show_conversation(view, settings)
    if view.messages:
        suggest_followup(view, settings)
    placeholder = ("Ask a follow-up: “what if flour were 150 kg?”, “why not more cakes?”"
                   if view.current() else "Describe a decision problem ...")
    typed = st.chat_input(placeholder, key="chat")
    text = typed or st.session_state.pop(PENDING, None)
    if action is not None:
        carry_out(action, history, view, settings)
    elif text and text.strip():
        handle_message(text.strip(), history, view, settings)
