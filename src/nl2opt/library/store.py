"""The library's store: one SQLite file, every change in a transaction.

Write-ahead logging with full synchronisation means a process killed at any
point (kill -9 included) leaves the file with every committed transaction and
none of the half-done one. Each content change of an insight (condition,
explanation, example, taxonomy, status) becomes a new version whose full text
is kept in `insight_versions`; statistics change in place, since they grow
with every task and a version per task would bury the real edits.

Besides insights the file holds the taxonomy, the training tasks insights
were learned from (so merges and refinement can re-verify on them), and the
learning journal (what a learning run finished, so a resumed run skips it).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nl2opt.errors import Nl2OptError
from nl2opt.library.model import (
    Insight,
    Outcome,
    Stage,
    Status,
    TaxonomyEntry,
    TaxonomyPath,
    TrainingTask,
)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS insights (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, stage TEXT NOT NULL, version INTEGER NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS insights_status ON insights(status);
CREATE TABLE IF NOT EXISTS insight_versions (
    id TEXT NOT NULL, version INTEGER NOT NULL, changed_at TEXT NOT NULL,
    reason TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (id, version));
CREATE TABLE IF NOT EXISTS taxonomy (
    label TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (uid TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (key TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


class LibraryError(Nl2OptError):
    """The library file or a requested insight cannot be used as asked."""


class InsightVersion(BaseModel):
    """One entry of an insight's history: its full content at that version."""

    id: str
    version: int
    changed_at: str
    reason: str
    content: dict[str, Any]


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class LibraryStore:
    """An experience library file. Use as a context manager, or call `close()`."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise LibraryError(f"no library file at {self.path}. Create one with `nl2opt "
                               "library learn` or `nl2opt library import-alphaopt`, or pass "
                               "the right --library path.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise LibraryError(f"{self.path} is not a usable library file ({error}). Pass "
                               "the .sqlite file written by `nl2opt library`.") from error
        self._lock = threading.RLock()
        self._depth = 0
        self._check_schema()

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            with self.transaction():
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)",
                                 (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise LibraryError(f"{self.path} was written by a newer nl2opt (library schema "
                               f"{row[0]}, this one reads {SCHEMA_VERSION}). Upgrade nl2opt.")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LibraryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all (nesting joins the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise self._unwritable(error) from None
            self._depth = 1
            try:
                yield
            except sqlite3.OperationalError as error:
                self._db.execute("ROLLBACK")
                raise self._unwritable(error) from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def _unwritable(self, error: sqlite3.OperationalError) -> LibraryError:
        """A write refused by SQLite (locked by another process, read-only, disk full)."""
        return LibraryError(f"{self.path} cannot be written ({error}); if another nl2opt "
                            "command is using it, wait for it to finish, and check that the "
                            "file and its folder are writable.")

    # -- insights --------------------------------------------------------------

    def get(self, insight_id: str) -> Insight | None:
        row = self._db.execute("SELECT data FROM insights WHERE id=?", (insight_id,)).fetchone()
        return Insight.model_validate_json(row[0]) if row else None

    def require(self, insight_id: str) -> Insight:
        insight = self.get(insight_id)
        if insight is None:
            raise LibraryError(f"no insight {insight_id!r} in {self.path}; `nl2opt library "
                               "list` shows the ids.")
        return insight

    def list(self, status: Status | Iterable[Status] | None = None,
             stage: Stage | None = None) -> list[Insight]:
        """Insights by id, optionally only those with the given status(es) and stage."""
        query, values = "SELECT data FROM insights", []
        clauses = []
        if status is not None:
            statuses = [status] if isinstance(status, Status) else list(status)
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            values += [s.value for s in statuses]
        if stage is not None:
            clauses.append("stage=?")
            values.append(stage.value)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        rows = self._db.execute(query + " ORDER BY id", values).fetchall()
        return [Insight.model_validate_json(row[0]) for row in rows]

    def search(self, text: str, status: Status | Iterable[Status] | None = None
               ) -> list[Insight]:
        """Insights whose taxonomy, condition, explanation or example contain every word of
        `text` (case-insensitive), for browsing; retrieval ranks with BM25 instead."""
        words = [word.lower() for word in text.split()]
        found = []
        for insight in self.list(status):
            haystack = " ".join([insight.label, insight.condition, insight.explanation,
                                 insight.example, insight.id]).lower()
            if all(word in haystack for word in words):
                found.append(insight)
        return found

    def count(self, status: Status | None = None) -> int:
        if status is None:
            return self._db.execute("SELECT COUNT(*) FROM insights").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM insights WHERE status=?",
                                (status.value,)).fetchone()[0]

    def add(self, insight: Insight, reason: str = "added") -> Insight:
        """Insert a new insight as version 1; an id already present is left as it is."""
        with self.transaction():
            existing = self.get(insight.id)
            if existing is not None:
                return existing
            insight = insight.model_copy(update={"version": 1})
            self._write(insight, reason)
            self.add_taxonomy([TaxonomyEntry(path=insight.taxonomy)])
            return insight

    def save(self, insight: Insight, reason: str) -> Insight:
        """Store a changed insight: a new version when its content changed."""
        with self.transaction():
            existing = self.require(insight.id)
            if existing.content() == insight.content():
                if existing.stats != insight.stats:
                    self._write(insight.model_copy(update={"version": existing.version}),
                                None)
                return self.require(insight.id)
            insight = insight.model_copy(update={"version": existing.version + 1})
            self._write(insight, reason)
            self.add_taxonomy([TaxonomyEntry(path=insight.taxonomy)])
            return insight

    def _write(self, insight: Insight, reason: str | None) -> None:
        self._db.execute("INSERT OR REPLACE INTO insights VALUES (?, ?, ?, ?, ?)",
                         (insight.id, insight.status.value, insight.taxonomy.stage.value,
                          insight.version, insight.model_dump_json()))
        if reason is not None:
            self._db.execute("INSERT OR REPLACE INTO insight_versions VALUES (?, ?, ?, ?, ?)",
                             (insight.id, insight.version, now_utc(), reason,
                              json.dumps(insight.content(), ensure_ascii=False)))

    def edit(self, insight_id: str, *, condition: str | None = None,
             explanation: str | None = None, example: str | None = None,
             taxonomy: TaxonomyPath | None = None, reason: str = "edited") -> Insight:
        """Change the text of an insight (a new version); unchanged fields stay."""
        changes = {name: value for name, value in (
            ("condition", condition), ("explanation", explanation), ("example", example),
            ("taxonomy", taxonomy)) if value is not None}
        with self.transaction():
            insight = self.require(insight_id)
            updated = Insight.model_validate({**insight.model_dump(), **changes})
            return self.save(updated, reason)

    def set_status(self, insight_id: str, status: Status, note: str = "") -> Insight:
        with self.transaction():
            insight = self.require(insight_id)
            update = {"status": status, "note": note or insight.note}
            return self.save(insight.model_copy(update=update),
                             f"{status.value}: {note}" if note else status.value)

    def approve(self, insight_id: str, note: str = "approved by a person") -> Insight:
        return self.set_status(insight_id, Status.verified, note)

    def retire(self, insight_id: str, note: str = "retired by a person") -> Insight:
        return self.set_status(insight_id, Status.retired, note)

    def record_outcomes(self, insight_id: str, outcomes: Iterable[tuple[Outcome, str]]
                        ) -> Insight | None:
        """Add (outcome, task id) pairs to an insight's statistics (no new version)."""
        with self.transaction():
            insight = self.get(insight_id)
            if insight is None:
                return None
            changed = [insight.stats.add(outcome, task) for outcome, task in outcomes]
            if any(changed):
                self._write(insight, None)
            return insight

    def history(self, insight_id: str) -> list[InsightVersion]:
        rows = self._db.execute("SELECT id, version, changed_at, reason, content FROM "
                                "insight_versions WHERE id=? ORDER BY version",
                                (insight_id,)).fetchall()
        return [InsightVersion(id=r[0], version=r[1], changed_at=r[2], reason=r[3],
                               content=json.loads(r[4])) for r in rows]

    def all_versions(self) -> list[InsightVersion]:
        ids = [row[0] for row in self._db.execute(
            "SELECT DISTINCT id FROM insight_versions ORDER BY id")]
        return [version for insight_id in ids for version in self.history(insight_id)]

    def put_version(self, version: InsightVersion) -> None:
        self._db.execute("INSERT OR REPLACE INTO insight_versions VALUES (?, ?, ?, ?, ?)",
                         (version.id, version.version, version.changed_at, version.reason,
                          json.dumps(version.content, ensure_ascii=False)))

    def replace(self, insight: Insight) -> None:
        """Write an insight exactly as given (version included): for imports."""
        with self.transaction():
            self._write(insight, None)
            self.add_taxonomy([TaxonomyEntry(path=insight.taxonomy)])

    # -- taxonomy --------------------------------------------------------------

    def taxonomy(self) -> list[TaxonomyEntry]:
        rows = self._db.execute("SELECT data FROM taxonomy ORDER BY label").fetchall()
        return [TaxonomyEntry.model_validate_json(row[0]) for row in rows]

    def add_taxonomy(self, entries: Iterable[TaxonomyEntry]) -> int:
        """Add new leaves (a definition fills an empty one); returns how many were new."""
        added = 0
        with self.transaction():
            for entry in entries:
                row = self._db.execute("SELECT data FROM taxonomy WHERE label=?",
                                       (entry.path.label,)).fetchone()
                if row is None:
                    added += 1
                elif not entry.definition or TaxonomyEntry.model_validate_json(
                        row[0]).definition:
                    continue
                self._db.execute("INSERT OR REPLACE INTO taxonomy VALUES (?, ?)",
                                 (entry.path.label, entry.model_dump_json()))
        return added

    # -- training tasks and the learning journal -----------------------------------

    def put_task(self, task: TrainingTask) -> None:
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO tasks VALUES (?, ?)",
                             (task.uid, task.model_dump_json()))

    def get_task(self, uid: str) -> TrainingTask | None:
        row = self._db.execute("SELECT data FROM tasks WHERE uid=?", (uid,)).fetchone()
        return TrainingTask.model_validate_json(row[0]) if row else None

    def tasks(self) -> list[TrainingTask]:
        rows = self._db.execute("SELECT data FROM tasks ORDER BY uid").fetchall()
        return [TrainingTask.model_validate_json(row[0]) for row in rows]

    def journal_get(self, key: str) -> Any:
        row = self._db.execute("SELECT data FROM journal WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def journal_put(self, key: str, value: Any) -> None:
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?)",
                             (key, json.dumps(value, ensure_ascii=False, sort_keys=True)))

    def journal_keys(self, prefix: str = "") -> list[str]:
        rows = self._db.execute("SELECT key FROM journal WHERE substr(key, 1, ?) = ? "
                                "ORDER BY key", (len(prefix), prefix)).fetchall()
        return [row[0] for row in rows]


def open_store(library: str | Path | LibraryStore, *, create: bool = False) -> LibraryStore:
    """A store for a path (which must exist unless `create`), or the store itself."""
    return library if isinstance(library, LibraryStore) else LibraryStore(library, create=create)
