"""Embedding geometry: alignment, uniformity (Wang & Isola 2020, as SimCSE reports them) and anisotropy.

On STS-B dev (the selection split, so the diagnostics read no test data), with unit-normalised embeddings:

- alignment  = E_{(x, y) positive} ||f(x) - f(y)||^2, positives = pairs with gold score >= 4;
- uniformity = log E_{x != y} exp(-2 ||f(x) - f(y)||^2) over all distinct sentences of the split;
- anisotropy = E_{x != y} cos(f(x), f(y)), the mean cosine of all distinct sentence pairs.

Lower is better for all three (closer positives, a more uniform, less anisotropic space). Each task is one
of the three numbers; one encoding serves all three, as a run memoises embeddings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.errors import BenchError
from bench.core.sts_data import STSPairs, read_stsb
from bench.core.suite import Evaluand, Suite, TaskOutcome

POSITIVE_GOLD = 4.0  # SimCSE: pairs scored >= 4 (of 5) are positives


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float64)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def alignment(first: np.ndarray, second: np.ndarray) -> float:
    """Mean squared distance between the unit vectors of positive pairs (row i of each)."""
    return float((np.linalg.norm(unit_rows(first) - unit_rows(second), axis=1) ** 2).mean())


def _distinct_pair_cosines(vectors: np.ndarray) -> np.ndarray:
    unit = unit_rows(vectors)
    upper = np.triu_indices(len(unit), k=1)
    return (unit @ unit.T)[upper]


def uniformity(vectors: np.ndarray, t: float = 2.0) -> float:
    """``log mean exp(-t ||f(x) - f(y)||^2)`` over distinct pairs; for unit vectors the squared distance
    is ``2 - 2 cos``."""
    squared = 2.0 - 2.0 * _distinct_pair_cosines(vectors)
    return float(np.log(np.mean(np.exp(-t * squared))))


def anisotropy(vectors: np.ndarray) -> float:
    """Mean cosine similarity over distinct pairs (0 for an isotropic space)."""
    return float(_distinct_pair_cosines(vectors).mean())


class GeometrySuite(Suite):
    """Alignment, uniformity and anisotropy of a method's embeddings on STS-B dev."""

    name = "geometry"
    description = "alignment / uniformity (Wang & Isola 2020) and anisotropy on STS-B dev; lower is better"
    min_examples = 3
    paired = False  # uniformity is not a mean over items: no paired bootstrap
    tasks = ("alignment", "uniformity", "anisotropy")

    def task_names(self) -> list[str]:
        return list(self.tasks)

    def _check(self, task: str) -> None:
        if task not in self.tasks:
            raise BenchError(f"suite geometry has no task {task!r} (tasks: {', '.join(self.tasks)})")

    def load(self, data_dir: Path, limit: int | None) -> STSPairs:
        pairs = read_stsb(data_dir, "dev")
        return pairs.head(limit) if limit else pairs

    def data_files(self, task: str, data_dir: Path) -> list[Path]:
        self._check(task)
        return read_stsb(data_dir, "dev").files

    def task_size(self, task: str, data_dir: Path) -> int | None:
        return len(self.load(data_dir, None))

    def check_task(self, task: str, data_dir: Path, limit: int | None) -> None:
        self._check(task)
        pairs = self.load(data_dir, limit)
        if not any(score >= POSITIVE_GOLD for score in pairs.scores):
            where = f" in the first {limit} pairs" if limit else ""
            raise BenchError(f"geometry: no STS-B dev pair scored >= {POSITIVE_GOLD}{where}, so no alignment")

    def average_label(self) -> str | None:
        return None

    def higher_is_better(self, task: str) -> bool:
        return False

    def evaluate(self, evaluand: Evaluand, task: str, data_dir: Path, limit: int | None) -> TaskOutcome:
        self.check_task(task, data_dir, limit)
        pairs = self.load(data_dir, limit)
        sentences = list(dict.fromkeys(pairs.sentences1 + pairs.sentences2))
        vectors = evaluand.encode(sentences)
        row = {s: i for i, s in enumerate(sentences)}
        positive = [i for i, score in enumerate(pairs.scores) if score >= POSITIVE_GOLD]
        first = vectors[[row[pairs.sentences1[i]] for i in positive]]
        second = vectors[[row[pairs.sentences2[i]] for i in positive]]
        scores = {"alignment": alignment(first, second), "uniformity": uniformity(vectors),
                  "anisotropy": anisotropy(vectors)}  # fmt: skip
        if not all(np.isfinite(v) for v in scores.values()):
            raise BenchError(f"{evaluand.name} / geometry: the embeddings give non-finite distances")
        return TaskOutcome(
            scores=scores,
            main_metric=task,
            n_examples=len(pairs),
            split="dev",
            stats={"sentences": len(sentences), "positive_pairs": len(positive)},
        )


GEOMETRY_SUITE = GeometrySuite()
