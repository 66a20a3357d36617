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
from dataclasses import dataclass, field
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
CREATE TABLE IF NOT EXISTS preferences (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Columns added after the first release: (table, column, declaration).
_ADDED_COLUMNS = (("conversations", "settings", "TEXT NOT NULL DEFAULT '{}'"),
                  ("conversations", "auto_title", "INTEGER NOT NULL DEFAULT 1"))


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
    settings: dict[str, Any] = field(default_factory=dict)  # the app settings it last used
    auto_title: bool = True  # False once a person renamed it

    def when(self) -> str:
        """"12 Mar 14:05": when it was last changed, in local time."""
        return time.strftime("%d %b %H:%M", time.localtime(self.updated))


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
            for table, column, declaration in _ADDED_COLUMNS:
                known = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in known:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def _connect(self) -> _Connection:
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
            row = db.execute(f"SELECT {_COLUMNS} FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
        return _conversation(row) if row else None

    def list(self) -> list[Conversation]:
        """All conversations, most recently updated first."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM conversations "
                              "ORDER BY updated DESC, id DESC").fetchall()
        return [_conversation(row) for row in rows]

    def rename(self, conversation_id: int, title: str, by_person: bool = True) -> None:
        """A new title; one a person gave is never replaced by the model's name."""
        with self._connect() as db:
            db.execute("UPDATE conversations SET title = ?, auto_title = ? WHERE id = ?",
                       (title.strip() or "Untitled", 0 if by_person else 1, conversation_id))

    def distinct_title(self, title: str, conversation_id: int | None = None) -> str:
        """`title`, or "title (2)", "title (3)" ... if another conversation has it."""
        taken = {c.title for c in self.list() if c.id != conversation_id}
        candidate, number = title, 2
        while candidate in taken:
            candidate, number = f"{title} ({number})", number + 1
        return candidate

    def set_settings(self, conversation_id: int, settings: dict[str, Any]) -> None:
        """The app settings a conversation last ran with (restored when it is reopened)."""
        with self._connect() as db:
            db.execute("UPDATE conversations SET settings = ? WHERE id = ?",
                       (json.dumps(settings, sort_keys=True), conversation_id))

    # -- preferences (the settings last used on this computer) ---------------------------
    def preference(self, key: str, default: Any = None) -> Any:
        with self._connect() as db:
            row = db.execute("SELECT value FROM preferences WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_preference(self, key: str, value: Any) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO preferences (key, value) VALUES (?, ?)",
                       (key, json.dumps(value, sort_keys=True)))

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

    def delete_message(self, message_id: int) -> None:
        """One message (e.g. an answer the person asked to regenerate)."""
        with self._connect() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def messages(self, conversation_id: int) -> list[Message]:
        with self._connect() as db:
            rows = db.execute("SELECT id, conversation_id, role, content, answer FROM messages "
                              "WHERE conversation_id = ? ORDER BY id", (conversation_id,))
            return [Message(row[0], row[1], row[2], row[3],
                            json.loads(row[4]) if row[4] else None) for row in rows]


_COLUMNS = "id, title, problem, created, updated, settings, auto_title"


def _conversation(row) -> Conversation:
    *fields, settings, auto_title = row
    return Conversation(*fields, settings=json.loads(settings or "{}"),
                        auto_title=bool(auto_title))


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

