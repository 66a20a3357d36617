"""Sidebar sections: the saved conversations (open, rename, delete) and data uploads."""

from __future__ import annotations

import streamlit as st

from nl2opt.app import state
from nl2opt.app.chat import PLACEHOLDER_TITLE
from nl2opt.app.history import History
from nl2opt.app.state import ConversationView
from nl2opt.app.uploads import UPLOAD_TYPES, UploadError, current_data_dir, data_files, save_upload
from nl2opt.formulation.render import md_text

MAX_LISTED = 30
_SAVED = "saved_uploads"


def conversations_section(history: History, open_id: int | None) -> None:
    """New conversation, the saved ones (newest first), rename and delete."""
    sidebar = st.sidebar
    sidebar.button("New conversation", key="new_conversation", on_click=state.select,
                   args=(None,), width="stretch", icon=":material/add:")
    conversations = history.list()
    if not conversations:
        sidebar.caption("Conversations are saved on this computer and appear here.")
        return
    sidebar.subheader("Conversations")
    for conversation in conversations[:MAX_LISTED]:
        sidebar.button(f"{conversation.title} · {conversation.when()}",
                       key=f"open_{conversation.id}",
                       type="secondary" if conversation.id == open_id else "tertiary",
                       on_click=state.open_conversation, args=(history, conversation.id),
                       width="stretch")
    if len(conversations) > MAX_LISTED:
        sidebar.caption(f"... and {len(conversations) - MAX_LISTED} older ones.")
    current = history.get(open_id) if open_id is not None else None
    if current is None:
        return
    with sidebar.expander("Rename or delete this conversation"):
        title = st.text_input("Title", current.title, key=f"title_{current.id}")
        if st.button("Rename", key=f"rename_{current.id}") and title.strip():
            history.rename(current.id, title)
            st.rerun()
        _delete_with_confirmation(history, current.id, current.title)


def _delete_with_confirmation(history: History, conversation_id: int, title: str) -> None:
    """Delete asks first: the conversation, its models and its data files go for good."""
    asking = f"confirm_delete_{conversation_id}"
    if not st.session_state.get(asking):
        if st.button("Delete", key=f"delete_{conversation_id}", icon=":material/delete:",
                     help="Deletes the conversation, its models and its data files."):
            st.session_state[asking] = True
            st.rerun()
        return
    st.warning(f"Delete “{md_text(title)}” with its models and data files? This cannot be "
               "undone.")
    first, second = st.columns(2)
    if first.button("Yes, delete", key=f"delete_yes_{conversation_id}", type="primary"):
        st.session_state.pop(asking, None)
        history.delete(conversation_id)
        state.select(None)
        st.rerun()
    if second.button("Cancel", key=f"delete_no_{conversation_id}"):
        st.session_state.pop(asking, None)
        st.rerun()


def uploads_section(history: History, view: ConversationView) -> None:
    """Upload CSV/Excel files into the open conversation's data folder."""
    sidebar = st.sidebar
    sidebar.subheader("Data files")
    conversation_id = view.conversation.id if view.conversation else None
    uploaded = sidebar.file_uploader(
        "CSV or Excel tables for the model", type=UPLOAD_TYPES, accept_multiple_files=True,
        key=f"upload_{conversation_id}",
        help="The LLM sees only the column names and a few rows; the model reads the "
             "whole file.")
    saved = st.session_state.setdefault(_SAVED, set())
    created = False
    for file in uploaded or []:
        token = (conversation_id, getattr(file, "file_id", ""), file.name, file.size)
        if token in saved:
            continue
        if conversation_id is None:  # the data comes first: open a conversation for it
            conversation_id = history.create(PLACEHOLDER_TITLE).id
            state.select(conversation_id)
            created = True
        try:
            written = save_upload(file.name, file.getvalue(), history.data_dir(conversation_id))
        except UploadError as error:
            sidebar.error(md_text(str(error)))
            continue
        saved.add(token)
        sidebar.success("Saved " + ", ".join(path.name for path in written))
    if created:
        st.rerun()  # show the new conversation (and keep the files listed under it)
    folder = history.data_dir(conversation_id) if conversation_id is not None else None
    names = [path.name for path in data_files(current_data_dir(folder) if folder else None)]
    if names:
        sidebar.caption("In this conversation: " + ", ".join(names))
