"""The nl2opt chat app: `nl2opt app`, or `streamlit run src/nl2opt/app/main.py`.

Describe a decision problem; the first message is formulated and solved, and
follow-ups revise the model or ask the solver (what if, why not, what is a
resource worth). Conversations are stored in SQLite (env NL2OPT_APP_DB, default
~/.local/share/nl2opt/app.db). Two pages: the chat, and the experience library.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from nl2opt.app import state
from nl2opt.app.history import History
from nl2opt.app.look import page_icon, style
from nl2opt.app.settings import restore

LIBRARY_PAGE = Path(__file__).with_name("library_page.py")


def main() -> None:
    st.set_page_config(page_title="nl2opt", page_icon=page_icon(), layout="wide")
    style()
    history = History()
    open_id = state.open_id(history)
    conversation = history.get(open_id) if open_id is not None else None
    restore(history, conversation.settings if conversation else None)
    from nl2opt.app.chat_page import chat_page

    page = st.navigation([st.Page(chat_page, title="Chat", url_path="chat", default=True),
                          st.Page(LIBRARY_PAGE, title="Library", url_path="library")])
    page.run()


main()
