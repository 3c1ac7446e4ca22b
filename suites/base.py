"""The suite interface: a named set of tasks that scores a method and says which files it read."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.registry import Registry
from methods.base import Method

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass
class Evaluand:
    """The method under evaluation and its (memoised) encode function."""

    method: Method
    encode: Encoder


@dataclass
class TaskOutcome:
    """What one task produced: all metrics (x100), the main one, counts and encoding statistics."""

    scores: dict[str, float]
    main_metric: str
    n_examples: int
    split: str
    stats: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # suite-specific provenance, stored as is

    @property
    def main_score(self) -> float:
        return self.scores[self.main_metric]


class Suite(ABC):
    """An evaluation suite; tasks are evaluated one at a time so results can be stored and resumed."""

    name: str
    description: str
    scores_causal_lm: bool = False  # True: scores the method's causal LM, not its embeddings
    limit_per_task: bool = False  # True: default limits differ by task (shown per column in tables)

    @abstractmethod
    def task_names(self) -> list[str]:
        """Tasks in table-column order."""

    @abstractmethod
    def data_files(self, task: str, data_dir: Path) -> list[Path]:
        """The files a task reads (their checksums go into every stored result)."""

    @abstractmethod
    def evaluate(self, evaluand: Evaluand, task: str, data_dir: Path, limit: int | None) -> TaskOutcome:
        """Score ``evaluand`` on ``task``; ``limit`` keeps the first N examples."""

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


SUITES: Registry[Suite] = Registry("suite", entry_point_group="sempa_bench.suites")
