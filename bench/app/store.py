"""The result store: one JSON file per (model, method config, task), written atomically.

Layout: ``<out>/runs/<model>/<method>-<config hash>/<task>[.limit<N>].json``. A file exists only once
its result is complete, so an interrupted run leaves nothing partial and the next run resumes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.app.records import ResultRecord
from bench.core.atomic import atomic_write_json
from bench.core.errors import BenchError
from bench.core.processes import pid_alive


def _writer_alive(temp: Path) -> bool:
    """Whether the process named in a temp file's name (``.NAME.<pid>-XXXX.tmp``) still exists."""
    match = re.search(r"\.(\d+)-[^.]*\.tmp$", temp.name)
    if not match:
        return False
    return pid_alive(int(match.group(1)))


@dataclass(frozen=True)
class ResultKey:
    model: str  # model slug
    method: str
    config_hash: str
    task: str
    limit: int | None = None

    def relative_path(self) -> Path:
        suffix = f".limit{self.limit}" if self.limit else ""
        return Path(self.model) / f"{self.method}-{self.config_hash}" / f"{self.task}{suffix}.json"


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
        for path in self.runs.glob("*/*/.*.tmp") if self.runs.is_dir() else []:
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

    def write(self, key: ResultKey, record: ResultRecord) -> Path:
        path = self.path(key)
        atomic_write_json(path, record.to_dict())
        return path

    def read(self, key: ResultKey) -> ResultRecord:
        return self._load(self.path(key))

    @staticmethod
    def _load(path: Path) -> ResultRecord:
        try:
            return ResultRecord.from_dict(json.loads(path.read_text(encoding="utf-8")), path)
        except (OSError, json.JSONDecodeError) as exc:
            raise BenchError(f"unreadable result file {path}: {exc}") from None
        except (KeyError, TypeError, AttributeError) as exc:
            raise BenchError(f"result file {path} is not a bench result record ({exc!r})") from None

    def records(self, model: str | None = None) -> Iterator[ResultRecord]:
        """Every stored record (optionally of one model slug), in a stable order."""
        if not self.runs.is_dir():
            return
        pattern = f"{model}/*/*.json" if model else "*/*/*.json"
        for path in sorted(self.runs.glob(pattern)):
            yield self._load(path)
