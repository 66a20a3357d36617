"""Conversations saved in a local SQLite file, one row per message, written as it happens.

The database lives at env NL2OPT_APP_DB, else ~/.local/share/nl2opt/app.db.
Uploaded data files go to a folder per conversation next to it
(``<db folder>/data/<conversation id>/``), so a formulation's CSV sources
still resolve after a restart. A new connection per call keeps this safe
across Streamlit's script threads.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_DB = "NL2OPT_APP_DB"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    problem TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    answer TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""


def default_db_path() -> Path:
    """Env NL2OPT_APP_DB, else ~/.local/share/nl2opt/app.db."""
    configured = os.environ.get(ENV_DB, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".local" / "share" / "nl2opt" / "app.db"


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    problem: str
    created: float
    updated: float


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str  # "user" or "assistant"
    content: str
    answer: dict[str, Any] | None  # the assistant's Answer, as JSON data


class History:
    """The conversation store."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> "_Connection":
        return _Connection(self.path)

    # -- conversations ------------------------------------------------------------------
    def create(self, title: str, problem: str = "") -> Conversation:
        now = time.time()
        with self._connect() as db:
            cursor = db.execute("INSERT INTO conversations (title, problem, created, updated) "
                                "VALUES (?, ?, ?, ?)", (title.strip() or "Untitled", problem,
                                                        now, now))
            new_id = int(cursor.lastrowid or 0)
        return Conversation(new_id, title.strip() or "Untitled", problem, now, now)

    def get(self, conversation_id: int) -> Conversation | None:
        with self._connect() as db:
            row = db.execute("SELECT id, title, problem, created, updated FROM conversations "
                             "WHERE id = ?", (conversation_id,)).fetchone()
        return Conversation(*row) if row else None

    def list(self) -> list[Conversation]:
        """All conversations, most recently updated first."""
        with self._connect() as db:
            rows = db.execute("SELECT id, title, problem, created, updated FROM conversations "
                              "ORDER BY updated DESC, id DESC").fetchall()
        return [Conversation(*row) for row in rows]

    def rename(self, conversation_id: int, title: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?",
                       (title.strip() or "Untitled", conversation_id))

    def set_problem(self, conversation_id: int, problem: str) -> None:
        """The problem statement (with its data preview) the conversation started from."""
        with self._connect() as db:
            db.execute("UPDATE conversations SET problem = ?, updated = ? WHERE id = ?",
                       (problem, time.time(), conversation_id))

    def delete(self, conversation_id: int) -> None:
        """The conversation, its messages and its data folder."""
        with self._connect() as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        shutil.rmtree(self.data_dir(conversation_id), ignore_errors=True)

    def data_dir(self, conversation_id: int) -> Path:
        """The folder for this conversation's uploaded data files (not created here)."""
        return self.path.parent / "data" / str(conversation_id)

    # -- messages -----------------------------------------------------------------------
    def add_message(self, conversation_id: int, role: str, content: str,
                    answer: dict[str, Any] | None = None) -> Message:
        """Append a message now (so nothing is lost if the tab or server goes away)."""
        now = time.time()
        payload = json.dumps(answer, ensure_ascii=False) if answer is not None else None
        with self._connect() as db:
            cursor = db.execute("INSERT INTO messages (conversation_id, role, content, answer, "
                                "created) VALUES (?, ?, ?, ?, ?)",
                                (conversation_id, role, content, payload, now))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?",
                       (now, conversation_id))
            new_id = int(cursor.lastrowid or 0)
        return Message(new_id, conversation_id, role, content, answer)

    def messages(self, conversation_id: int) -> list[Message]:
        with self._connect() as db:
            rows = db.execute("SELECT id, conversation_id, role, content, answer FROM messages "
                              "WHERE conversation_id = ? ORDER BY id", (conversation_id,))
            return [Message(row[0], row[1], row[2], row[3],
                            json.loads(row[4]) if row[4] else None) for row in rows]


class _Connection:
    """A connection used as `with`: commit on success, roll back on error, always close."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=10)
        self._db.execute("PRAGMA foreign_keys = ON")

    def __enter__(self) -> sqlite3.Connection:
        return self._db

    def __exit__(self, kind, value, traceback) -> None:
        with closing(self._db):
            if kind is None:
                self._db.commit()
            else:
                self._db.rollback()

