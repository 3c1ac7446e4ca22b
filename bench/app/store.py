"""The result store: one JSON file per result identity, with its per-item predictions beside it.

Layout: ``<out>/runs/<model>/<method>-<config hash>/<task>[.limit<N>][.seed<S>].data-<D>.json`` and the
same name with ``.npz`` for the predictions. ``<model>`` is the weights' hash (so one model loaded by
alias, GGUF path or folder shares one namespace), ``<S>`` appears for methods whose output depends on
the seed, ``<D>`` is a digest of the data files read. Files are written atomically (predictions first):
a result exists only once it is complete, so an interrupted run leaves nothing partial and resumes.
Results stored by earlier versions (``<task>[.limit<N>].json``) still load for tables.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.app.records import ResultRecord
from bench.core.atomic import atomic_write, atomic_write_json
from bench.core.errors import BenchError
from bench.core.locks import folder_lock
from bench.core.processes import pid_alive
from bench.core.progress import warn


def _writer_alive(temp: Path) -> bool:
    """Whether the process named in a temp file's name (``.NAME.<pid>-XXXX.tmp``) still exists."""
    match = re.search(r"\.(\d+)-[^.]*\.tmp$", temp.name)
    if not match:
        return False
    return pid_alive(int(match.group(1)))


@dataclass(frozen=True)
class ResultKey:
    """The identity of a result: which weights, method config, task, limit, seed and data."""

    model: str  # model namespace (weights hash, or a slug when the weights are unknown)
    method: str
    config_hash: str
    task: str
    limit: int | None = None  # None: the whole task
    seed: int | None = None  # None: the method's output does not depend on the seed
    data: str = ""  # digest of the data files' checksums ("" in results of earlier versions)

    def relative_path(self) -> Path:
        name = self.task
        name += f".limit{self.limit}" if self.limit else ""
        name += f".seed{self.seed}" if self.seed is not None else ""
        name += f".data-{self.data}" if self.data else ""
        return Path(self.model) / f"{self.method}-{self.config_hash}" / f"{name}.json"

    def __str__(self) -> str:
        return str(self.relative_path().with_suffix(""))


class ResultStore:
    """Reads and writes result records under ``root/runs``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"

    def remove_stale_temp_files(self, min_age_s: float = 300.0) -> int:
        """Delete temp files left by a run killed mid-write; returns how many. A temp file whose writer
        (pid in its name) still runs and that is younger than ``min_age_s`` is kept: a concurrent
        process (an ablation worker) is writing it."""
        now = time.time()
        removed = 0
        candidates = [*self.runs.glob("*/*/.*.tmp"), *(self.root / "tables").glob(".*.tmp")]
        for path in candidates:
            try:
                if _writer_alive(path) and now - path.stat().st_mtime < min_age_s:
                    continue
                path.unlink()
                removed += 1
            except FileNotFoundError:  # renamed into place meanwhile
                continue
        return removed

    def path(self, key: ResultKey) -> Path:
        return self.runs / key.relative_path()

    def exists(self, key: ResultKey) -> bool:
        return self.path(key).is_file()

    def has_valid(self, key: ResultKey, move_invalid: bool = True) -> bool:
        """Whether a readable result is stored under ``key``; an unreadable file there is moved aside
        (``NAME.json.invalid``, unless ``move_invalid`` is False) with a warning, so that the run computes
        the result again."""
        path = self.path(key)
        if not path.is_file():
            return False
        try:
            self._load(path)
        except BenchError as exc:
            if not move_invalid:
                warn(f"{exc}; a run will move it aside and compute it again")
                return False
            target = path.with_name(path.name + ".invalid")
            os.replace(path, target)
            warn(f"{exc}; moved it aside to {target.name} and computing the result again")
            return False
        return True

    def predictions_path(self, key: ResultKey) -> Path:
        return self.path(key).with_suffix(".npz")

    def write(
        self, key: ResultKey, record: ResultRecord, predictions: dict[str, np.ndarray] | None = None
    ) -> Path:
        """Store a record and its per-item predictions (written first so a record never lacks them; the
        record carries their SHA-256, so predictions left by an interrupted overwrite are detected). The
        pair is written under the method folder's lock: two runs storing the same result at once leave
        one run's pair, never one's record beside the other's predictions. Without ``predictions``, the
        stored ones stay when the record carries their SHA-256 (a relabelled record) and go otherwise."""
        path = self.path(key)
        with folder_lock(path.parent):
            if predictions:
                buffer = io.BytesIO()
                np.savez_compressed(buffer, **{name: np.asarray(v) for name, v in predictions.items()})
                data = buffer.getvalue()
                atomic_write(self.predictions_path(key), lambda tmp: tmp.write_bytes(data))
                digest = hashlib.sha256(data).hexdigest()
                arrays = {name: len(np.asarray(v)) for name, v in predictions.items()}
                info = {**record.details.get("predictions", {}), "arrays": arrays, "npz_sha256": digest}
                record = replace(record, details={**record.details, "predictions": info})
            elif not self._refers_to_stored_predictions(key, record):
                self.predictions_path(key).unlink(missing_ok=True)  # a stale file of an earlier result
            atomic_write_json(path, record.to_dict())
        return path

    def _refers_to_stored_predictions(self, key: ResultKey, record: ResultRecord) -> bool:
        digest = (record.details.get("predictions") or {}).get("npz_sha256")
        path = self.predictions_path(key)
        return bool(digest) and path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest

    def relabel(self, key: ResultKey, label: str) -> None:
        """Give a stored record another row label, its predictions untouched (read and written under the
        folder's lock, so a concurrent rewrite of the pair is never undone)."""
        path = self.path(key)
        with folder_lock(path.parent):
            record = self._load(path)
            if record.method.label != label:
                atomic_write_json(path, record.relabelled(label).to_dict())

    def predictions(self, record: ResultRecord) -> dict[str, np.ndarray]:
        """The per-item predictions stored beside a record read from this store (empty: none stored)."""
        if record.path is None:
            raise BenchError(f"{record.method.label} / {record.task}: the record was not read from a store")
        path = Path(record.path).with_suffix(".npz")
        info = record.details.get("predictions") or {}
        if not path.is_file() or not info:
            return {}
        mismatch = BenchError(
            f"predictions file {path} does not belong to its result (an interrupted overwrite?); "
            "rerun that result with --overwrite"
        )
        try:
            with folder_lock(path.parent, shared=True):
                data = path.read_bytes()
                current = self._load(Path(record.path)).details.get("predictions") or {}
            if "npz_sha256" in info and hashlib.sha256(data).hexdigest() != info["npz_sha256"]:
                if current.get("npz_sha256") == hashlib.sha256(data).hexdigest():
                    raise BenchError(
                        f"{record.path} was overwritten by another run after it was read; read it again"
                    )
                raise mismatch
            with np.load(io.BytesIO(data)) as arrays:
                loaded = {name: arrays[name] for name in arrays.files}
            if {name: len(v) for name, v in loaded.items()} != info.get("arrays", {}):
                raise mismatch  # records written before the SHA-256 was stored: names and lengths
            return loaded
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            raise BenchError(f"unreadable predictions file {path}: {exc}") from None

    def read(self, key: ResultKey) -> ResultRecord:
        return self._load(self.path(key))

    @staticmethod
    def _load(path: Path) -> ResultRecord:
        try:
            return ResultRecord.from_dict(json.loads(path.read_text(encoding="utf-8")), path)
        except (OSError, json.JSONDecodeError) as exc:
            raise BenchError(f"unreadable result file {path}: {exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BenchError(f"result file {path} is not a bench result record: {exc}") from None

    def records(self, model: str | None = None) -> Iterator[ResultRecord]:
        """Every readable stored record (optionally of one model slug), in a stable order; an unreadable
        file is skipped with a warning naming it, so one broken file never blocks a table."""
        if not self.runs.is_dir():
            return
        pattern = f"{model}/*/*.json" if model else "*/*/*.json"  # folders: namespace/method-config
        for path in sorted(self.runs.glob(pattern)):
            try:
                yield self._load(path)
            except BenchError as exc:
                warn(f"{exc}; skipped (`bench run` computes it again, or delete the file)")
