"""Which conversation is open, and what its stored messages add up to.

The open conversation's id lives in the session state and in the page URL
(``?c=ID``), so a reload or a server restart reopens it; everything else is
read back from the history database on each run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from nl2opt.app.history import Conversation, History, Message
from nl2opt.app.turns import Answer
from nl2opt.app.uploads import data_dir_of

_KEY = "conversation_id"
_PARAM = "c"


def open_id(history: History) -> int | None:
    """The open conversation's id (session state, else the URL), if it still exists."""
    if _KEY not in st.session_state:
        raw = st.query_params.get(_PARAM)
        st.session_state[_KEY] = int(raw) if raw and raw.isdigit() else None
    current = st.session_state[_KEY]
    if current is not None and history.get(current) is None:
        select(None)
        return None
    return current


def open_conversation(history: History, conversation_id: int) -> None:
    """Open a saved conversation with the settings it last ran with (a button callback:
    it runs before the settings widgets are drawn, so their values can be set)."""
    from nl2opt.app.settings import apply

    select(conversation_id)
    conversation = history.get(conversation_id)
    if conversation is not None and conversation.settings:
        apply(conversation.settings)


def select(conversation_id: int | None) -> None:
    """Open a conversation (None: start a new one)."""
    st.session_state[_KEY] = conversation_id
    if conversation_id is None:
        st.query_params.pop(_PARAM, None)
    else:
        st.query_params[_PARAM] = str(conversation_id)


@dataclass
class ConversationView:
    """A conversation and its messages, with the answers decoded."""

    conversation: Conversation | None
    messages: list[Message]
    data_dir: Path | None  # the conversation's folder; its data versions are inside

    def data_dir_for(self, answer: Answer) -> Path | None:
        """The data folder `answer` was made with, so it re-solves with that data."""
        return data_dir_of(self.data_dir, answer.data_version) if self.data_dir else None

    @classmethod
    def load(cls, history: History, conversation_id: int | None) -> ConversationView:
        if conversation_id is None:
            return cls(None, [], None)
        return cls(history.get(conversation_id), history.messages(conversation_id),
                   history.data_dir(conversation_id))

    def answers(self) -> list[tuple[Message, Answer]]:
        return [(m, Answer.model_validate(m.answer)) for m in self.messages
                if m.role == "assistant" and m.answer]

    def current(self) -> Answer | None:
        """The latest answer with a model: what a follow-up revises."""
        found = self._current()
        return found[1] if found else None

    def current_message_id(self) -> int | None:
        found = self._current()
        return found[0].id if found else None

    def _current(self) -> tuple[Message, Answer] | None:
        for message, answer in reversed(self.answers()):
            if answer.formulation is not None and not answer.error and \
                    answer.kind != "analysis":
                return message, answer
        return None

    def latest(self) -> tuple[Message, Answer] | None:
        """The last assistant answer, whatever its kind."""
        found = self.answers()
        return found[-1] if found else None

    def changes(self) -> list[str]:
        """The revision requests that led to the current model, in order."""
        return [a.request for _, a in self.answers() if a.kind == "revise" and not a.error]

    def turns(self) -> list[tuple[str, str]]:
        """(kind, request) of each successful answer (demo mode follows these)."""
        return [(a.kind, a.request) for _, a in self.answers() if not a.error]

    def seen_by_llm(self) -> str:
        """Everything the LLM was told so far (to tell which data files are new to it)."""
        told = [self.conversation.problem if self.conversation else ""]
        return "\n".join(told + [a.request for _, a in self.answers()])
