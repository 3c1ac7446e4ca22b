"""The suite interface: a named set of tasks that scores a method and says which files it read."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.method import Method
from bench.core.models import LoadedModel
from bench.core.registry import Registry

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Evaluand:
    """What a suite scores: a name, an encode function and, for generation suites, the causal LM.

    Suites see this, never the method itself, so that suites and methods stay independent."""

    name: str
    encode: Encoder
    causal_lm: Callable[[], LoadedModel | None]
    batch_size: int = 16
    seed: int = 0

    @classmethod
    def of(cls, method: Method, encode: Encoder | None = None) -> Evaluand:
        """The evaluand of ``method`` (``encode``: e.g. a memoised ``method.encode``)."""
        return cls(
            method.name,
            encode or method.encode,
            method.causal_lm,
            method.context.batch_size,
            method.context.seed,
        )


@dataclass
class TaskOutcome:
    """What one task produced: all metrics (x100), the main one, counts and encoding statistics."""

    scores: dict[str, float]
    main_metric: str
    n_examples: int
    split: str
    stats: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # suite-specific provenance, stored as is
    # per-item outcomes in task order, for paired tests (STS: "cosine" and "gold"; gen: "<metric>")
    predictions: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def main_score(self) -> float:
        return self.scores[self.main_metric]


class Suite(ABC):
    """An evaluation suite; tasks are evaluated one at a time so results can be stored and resumed."""

    name: str
    description: str
    scores_causal_lm: bool = False  # True: scores the method's causal LM, not its embeddings
    limit_per_task: bool = False  # True: default limits differ by task (shown per column in tables)
    min_examples: int = 1  # fewer examples per task give no meaningful score (checked against --limit)
    paired: bool = True  # False: no per-item predictions, so tables make no paired comparisons

    @abstractmethod
    def task_names(self) -> list[str]:
        """Tasks in table-column order."""

    @abstractmethod
    def data_files(self, task: str, data_dir: Path) -> list[Path]:
        """The files a task reads (their checksums go into every stored result)."""

    @abstractmethod
    def evaluate(self, evaluand: Evaluand, task: str, data_dir: Path, limit: int | None) -> TaskOutcome:
        """Score ``evaluand`` on ``task``; ``limit`` keeps the first N examples."""

    def check_task(self, task: str, data_dir: Path, limit: int | None) -> None:
        """Raise :class:`BenchError` when the task's data is missing, malformed or cannot be scored at
        ``limit``; run before any model loads (default: its files must be readable)."""
        self.data_files(task, data_dir)

    def task_size(self, task: str, data_dir: Path) -> int | None:
        """Examples in the whole task (None: not known before evaluating); a limit at or above it is the
        whole task and is stored as such."""
        return None

    def average_label(self) -> str | None:
        """Column name of the suite average in tables (None: no average)."""
        return "Avg"

    def default_limit(self, task: str, device: str) -> int | None:
        """Examples scored when the user gives no --limit (None: all)."""
        return None

    def column_label(self, task: str) -> str:
        return task

    def higher_is_better(self, task: str) -> bool:
        """False for metrics such as perplexity (kept out of the average)."""
        return True


# Built-in suites are declared (lazily, as "module:object" strings) in the `suites` package.
SUITES: Registry[Suite] = Registry("suite", Suite, entry_point_group="sempa_bench.suites", builtins="suites")
