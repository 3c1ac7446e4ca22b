"""A persistent embedding cache: vectors of sentences already encoded by the same model, method config,
adapter, dtype and library versions, kept across runs in one SQLite file.

Why SQLite and not mteb's ``CachedEmbeddingWrapper``: that wrapper keeps one memory-mapped file per task,
so tasks that share sentences do not share vectors, and it has no locking for two writers. Here each
(namespace, sentence) is one row; the database runs in WAL mode with a busy timeout, so several processes
(parallel runs, Optuna workers) read and write at once, and every write is one transaction, so a kill
leaves the last committed state, never half a vector. Writes take the write lock up front (``BEGIN
IMMEDIATE``): a transaction that starts as a read and then writes can be refused at once, without waiting,
when another process committed in between (SQLite's ``SQLITE_BUSY_SNAPSHOT``); such refusals, and those of
two processes creating the file at the same moment, are retried.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS namespaces (
    namespace   TEXT PRIMARY KEY,   -- hash of everything the vectors depend on
    description TEXT NOT NULL,      -- what that was, as JSON (model, method, adapter, dtype, ...)
    dim         INTEGER NOT NULL,
    created     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    namespace TEXT NOT NULL REFERENCES namespaces (namespace) ON DELETE CASCADE,
    sentence  TEXT NOT NULL,        -- the exact text given to the method's encode
    vector    BLOB NOT NULL,        -- float32, dim values, little-endian
    PRIMARY KEY (namespace, sentence)
) WITHOUT ROWID;
"""

_CHUNK = 500  # sentences per SELECT (SQLite's limit on bound parameters is 999 in old builds)
_BUSY_TIMEOUT_S = 120.0  # how long one statement waits for another process's lock
_RETRY_FOR_S = 120.0  # how long refusals that bypass the busy handler are retried


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@dataclass(frozen=True)
class NamespaceSummary:
    namespace: str
    description: str
    dim: int
    vectors: int
    megabytes: float


class EmbeddingCache:
    """Sentence vectors per namespace in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are opened explicitly, so that writes can take the lock up front
        connection = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _retry_busy(lambda: self._prepare(connection))
            yield connection
        finally:
            connection.close()

    @staticmethod
    def _prepare(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA foreign_keys=ON")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if {"namespaces", "vectors"} <= tables:
            return
        db.execute("PRAGMA journal_mode=WAL")  # persistent: set once, by whoever creates the file
        with _write_transaction(db):
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def get(self, namespace: str, sentences: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those ``sentences`` that the namespace has."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(sentences))
        with self._connection() as db:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT sentence, vector FROM vectors WHERE namespace = ? AND sentence IN ({marks})",
                    (namespace, *chunk),
                )
                for sentence, blob in rows:
                    found[sentence] = np.frombuffer(blob, dtype="<f4").copy()
        return found

    def put(self, namespace: str, description: str, sentences: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors`` (one row per sentence) in one transaction; existing rows are kept."""
        values = np.asarray(vectors, dtype="<f4")
        if values.ndim != 2 or len(values) != len(sentences):
            raise ValueError(f"{len(sentences)} sentences but vectors of shape {values.shape}")
        rows = [(namespace, s, v.tobytes()) for s, v in zip(sentences, values, strict=True)]

        def insert(db: sqlite3.Connection) -> None:
            with _write_transaction(db):
                db.execute(
                    "INSERT OR IGNORE INTO namespaces VALUES (?, ?, ?, ?)",
                    (namespace, description, values.shape[1], time.time()),
                )
                db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", rows)

        with self._connection() as db:
            _retry_busy(lambda: insert(db))

    def summary(self) -> list[NamespaceSummary]:
        """Every namespace with its vector count and size."""
        if not self.path.exists():
            return []
        with self._connection() as db:
            rows = db.execute(
                "SELECT n.namespace, n.description, n.dim, COUNT(v.sentence),"
                " COALESCE(SUM(LENGTH(v.vector)), 0)"
                " FROM namespaces n LEFT JOIN vectors v ON v.namespace = n.namespace"
                " GROUP BY n.namespace ORDER BY n.created"
            ).fetchall()
        return [NamespaceSummary(ns, desc, dim, count, size / 1e6) for ns, desc, dim, count, size in rows]

    def clear(self, namespace: str | None = None) -> int:
        """Delete one namespace (or all); returns how many vectors went."""
        if not self.path.exists():
            return 0
        where, args = ("WHERE namespace = ?", (namespace,)) if namespace else ("", ())

        def delete(db: sqlite3.Connection) -> int:
            with _write_transaction(db):
                count = db.execute(f"SELECT COUNT(*) FROM vectors {where}", args).fetchone()[0]
                db.execute(f"DELETE FROM vectors {where}", args)
                db.execute(f"DELETE FROM namespaces {where}", args)
            return count

        with self._connection() as db:
            count = _retry_busy(lambda: delete(db))
        if namespace is None:
            with self._connection() as db:
                db.execute("VACUUM")
        return count


@contextmanager
def _write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction holding the write lock from its start; rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (e.g. a full disk)
            db.execute("ROLLBACK")
        raise


def _retry_busy(operation: Callable[[], T]) -> T:
    """Run ``operation``, again after a short random pause while SQLite refuses it as busy or locked."""
    deadline = time.monotonic() + _RETRY_FOR_S
    pause = 0.01
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause * (1 + random.random()))
        pause = min(pause * 2, 1.0)
