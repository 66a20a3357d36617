"""The nl2opt chat app: `nl2opt app`, or `streamlit run src/nl2opt/app/main.py`.

Describe a decision problem; the first message is formulated and solved, and
follow-ups revise the model. Conversations are stored in SQLite (env
NL2OPT_APP_DB, default ~/.local/share/nl2opt/app.db).
"""

from __future__ import annotations

import streamlit as st

from nl2opt.app import state
from nl2opt.app.chat import handle_edit, handle_message
from nl2opt.app.demo import demo_conversations, next_demo_step
from nl2opt.app.history import History
from nl2opt.app.panels import render_answer
from nl2opt.app.settings import Settings, sidebar_settings
from nl2opt.app.sidebar import conversations_section, uploads_section
from nl2opt.app.state import ConversationView
from nl2opt.app.turns import Answer

TITLE = "nl2opt · decisions in plain words, solved"
TAGLINE = ("Describe a decision problem in everyday language. nl2opt writes a checked "
           "optimization model, solves it, explains the answer, and changes the model when "
           "you ask a follow-up.")
PENDING = "pending_prompt"


def queue(text: str) -> None:
    """Send `text` as the next chat message (button callbacks)."""
    st.session_state[PENDING] = text


def intro(settings: Settings) -> None:
    """What an empty conversation shows: how to start, and examples in demo mode."""
    if not settings.demo:
        st.markdown("Try something like: *A bakery makes bread and cakes ... how many of each "
                    "should it bake to maximize profit?* Attach data tables in the sidebar.")
        return
    st.info("**Demo mode** — no GPU needed: the answers are replayed from recorded example "
            "conversations (written by hand, not by a model). Pick an example below; choose "
            "an LLM in the sidebar to ask your own questions.", icon=":material/lightbulb:")
    st.markdown("**Try an example**")
    examples = demo_conversations()
    for column, example in zip(st.columns(len(examples)), examples):
        with column:
            st.button(example.label, key=f"example_{example.key}", on_click=queue,
                      args=(example.problem,), width="stretch", icon=example.icon)
            st.caption(_shorten(example.problem, 170))


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rsplit(" ", 1)[0] + " …"


def show_conversation(view: ConversationView, history: History, settings: Settings) -> None:
    """Every stored message; the latest model gets the JSON editor."""
    latest = view.current_message_id()
    for message in view.messages:
        with st.chat_message(message.role):
            if message.role == "user" or not message.answer:
                st.markdown(message.content)
                continue
            answer = Answer.model_validate(message.answer)
            key = f"m{message.id}"
            edited = render_answer(answer, key, view.data_dir_for(answer),
                                   editable=message.id == latest)
            if edited is not None:
                handle_edit(edited, key, history, view, settings)


def suggest_followup(view: ConversationView, settings: Settings) -> None:
    if not settings.demo:
        return
    step = next_demo_step(view.turns())
    if step is not None:
        st.button(f"Try a follow-up: “{step.request}”", key="followup", on_click=queue,
                  args=(step.request,), icon=":material/chat:")


def main() -> None:
    st.set_page_config(page_title="nl2opt", page_icon=":material/calculate:", layout="wide")
    history = History()
    open_id = state.open_id(history)
    st.sidebar.title(":material/calculate: nl2opt")
    conversations_section(history, open_id)
    view = ConversationView.load(history, open_id)
    uploads_section(history, view)
    settings = sidebar_settings()

    st.title(TITLE)
    st.caption(TAGLINE)
    if not view.messages:
        intro(settings)
    show_conversation(view, history, settings)
    if view.messages:
        suggest_followup(view, settings)
    placeholder = ("Ask for a change, e.g. “what if the budget is 1200?”" if view.current()
                   else "Describe a decision problem ...")
    typed = st.chat_input(placeholder, key="chat")
    text = typed or st.session_state.pop(PENDING, None)
    if text and text.strip():
        handle_message(text.strip(), history, view, settings)


main()
