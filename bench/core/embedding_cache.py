"""A persistent embedding cache: vectors of sentences already encoded by the same model, method config,
adapter, dtype and library versions, kept across runs in one SQLite file.

Why SQLite and not mteb's ``CachedEmbeddingWrapper``: that wrapper keeps one memory-mapped file per task,
so tasks that share sentences do not share vectors, and it has no locking for two writers. Here each
(namespace, sentence) is one row; the database runs in WAL mode with a busy timeout, so several processes
(parallel runs, Optuna workers) read and write at once, and every write is one transaction, so a kill
leaves the last committed state, never half a vector.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
        connection = sqlite3.connect(self.path, timeout=120)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.executescript(SCHEMA)
            yield connection
        finally:
            connection.close()

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
        with self._connection() as db, db:
            db.execute(
                "INSERT OR IGNORE INTO namespaces VALUES (?, ?, ?, ?)",
                (namespace, description, values.shape[1], time.time()),
            )
            db.executemany(
                "INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                ((namespace, s, v.tobytes()) for s, v in zip(sentences, values, strict=True)),
            )

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
        with self._connection() as db, db:
            where, args = ("WHERE namespace = ?", (namespace,)) if namespace else ("", ())
            count = db.execute(f"SELECT COUNT(*) FROM vectors {where}", args).fetchone()[0]
            db.execute(f"DELETE FROM vectors {where}", args)
            db.execute(f"DELETE FROM namespaces {where}", args)
        if namespace is None:
            with self._connection() as db:
                db.execute("VACUUM")
        return count
