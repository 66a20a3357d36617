"""Embedding vectors kept between runs, so `nl2opt solve --embeddings ...` does not embed
the library's conditions again on every call.

One SQLite file (env NL2OPT_EMBEDDING_CACHE, else the user cache:
``~/.cache/nl2opt/embeddings.sqlite``; ``off`` keeps vectors in memory only). A vector is
keyed by the endpoint (``MODEL@URL``) and the SHA-256 of its text, so an edited condition
(a new insight version) is embedded again and the old vector ages out. The file is
bounded: beyond `max_rows` the least recently used vectors go. Losing it only costs
embedding again, so a file that cannot be opened or written is skipped, not an error.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np

ENV_CACHE = "NL2OPT_EMBEDDING_CACHE"
MAX_ROWS = 200_000  # about 300 MiB of 384-float vectors

_SCHEMA = """CREATE TABLE IF NOT EXISTS vectors (
    endpoint TEXT NOT NULL, text_hash TEXT NOT NULL, dimension INTEGER NOT NULL,
    vector BLOB NOT NULL, used REAL NOT NULL, PRIMARY KEY (endpoint, text_hash))"""


def default_vector_path() -> Path | None:
    """Env NL2OPT_EMBEDDING_CACHE (``off``: none), else the user cache."""
    chosen = os.environ.get(ENV_CACHE, "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "nl2opt" / "embeddings.sqlite"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nl2opt" / "embeddings.sqlite"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorFile:
    """Vectors on disk by (endpoint, text). One short connection per call (a few per run);
    an unusable file is skipped quietly: the vectors are embedded again instead."""

    def __init__(self, path: str | Path, max_rows: int = MAX_ROWS) -> None:
        self.path = Path(path)
        self.max_rows = max_rows

    def _run(self, work, default):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
                return work(db)
        except (sqlite3.Error, OSError):
            return default

    def get_many(self, endpoint: str, texts: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those texts that have one (marked as used now)."""
        by_hash = {text_hash(text): text for text in texts}

        def read(db: sqlite3.Connection) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            hashes = list(by_hash)
            for start in range(0, len(hashes), 500):
                chunk = hashes[start:start + 500]
                rows = db.execute(
                    "SELECT text_hash, vector FROM vectors WHERE endpoint = ? AND text_hash "
                    f"IN ({','.join('?' * len(chunk))})", [endpoint, *chunk]).fetchall()
                found.update((by_hash[h], np.frombuffer(blob, dtype=np.float32))
                             for h, blob in rows)
            db.executemany("UPDATE vectors SET used = ? WHERE endpoint = ? AND text_hash = ?",
                           [(time.time(), endpoint, text_hash(t)) for t in found])
            return found

        return self._run(read, {}) if texts else {}

    def put_many(self, endpoint: str, vectors: dict[str, np.ndarray]) -> None:
        """Store vectors, then drop the least recently used beyond `max_rows`."""
        now = time.time()
        rows = [(endpoint, text_hash(text), int(vector.shape[0]),
                 np.asarray(vector, dtype=np.float32).tobytes(), now)
                for text, vector in vectors.items()]

        def write(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)
            db.execute("DELETE FROM vectors WHERE rowid IN (SELECT rowid FROM vectors "
                       "ORDER BY used DESC LIMIT -1 OFFSET ?)", (self.max_rows,))

        if rows:
            self._run(write, None)

    def drop(self, endpoint: str) -> None:
        """Forget an endpoint's vectors (the model behind it changed)."""
        self._run(lambda db: db.execute("DELETE FROM vectors WHERE endpoint = ?",
                                        (endpoint,)), None)

    def count(self, endpoint: str) -> int:
        return self._run(lambda db: db.execute(
            "SELECT COUNT(*) FROM vectors WHERE endpoint = ?", (endpoint,)).fetchone()[0], 0)
