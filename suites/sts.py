"""STS suites scored through mteb, with the SentEval protocol of the SemPA and PromptEOL papers.

STS12-16 are each ONE Spearman over all subsets concatenated (unscored pairs dropped); STS-B and
SICK-R use their test split; the score is Spearman(cosine) x 100. ``sts-dev`` holds STS-B dev, the
model-selection split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.errors import BenchError
from bench.core.mteb_encoder import mteb_encoder
from bench.core.sts_data import SEMEVAL_SETS, STSPairs, read_semeval, read_sick, read_stsb
from bench.core.suite import Encoder, Evaluand, Suite, TaskOutcome


@dataclass(frozen=True)
class STSTaskSpec:
    name: str
    split: str
    description: str
    read: Callable[[Path], STSPairs]
    min_score: float = 0.0
    max_score: float = 5.0


def _semeval(name: str) -> STSTaskSpec:
    return STSTaskSpec(
        name, "test", f"SemEval {name} (all subsets, one Spearman)", lambda d: read_semeval(d, name)
    )


STS_TASKS: dict[str, STSTaskSpec] = {
    **{name: _semeval(name) for name in SEMEVAL_SETS},
    "STSBenchmark": STSTaskSpec("STSBenchmark", "test", "STS Benchmark test", lambda d: read_stsb(d, "test")),
    "SICK-R": STSTaskSpec(
        "SICK-R", "test", "SICK relatedness test", lambda d: read_sick(d, "test"), min_score=1.0
    ),
    "STSBenchmark-dev": STSTaskSpec(
        "STSBenchmark-dev", "dev", "STS Benchmark dev (model selection)", lambda d: read_stsb(d, "dev")
    ),
}

COLUMN_LABELS = {"STSBenchmark": "STS-B", "STSBenchmark-dev": "STS-B dev"}


def mteb_task(spec: STSTaskSpec, pairs: STSPairs):
    """An mteb STS task over local pairs (mteb's validation rejects local data_files in metadata)."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks import AbsTaskSTS
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalSTS(AbsTaskSTS):
        metadata = TaskMetadata(
            name=f"bench-{spec.name}",
            description=spec.description,
            reference=None,
            dataset={"path": f"local/{spec.name}", "revision": "local"},
            type="STS",
            category="t2t",
            modalities=["text"],
            eval_splits=[spec.split],
            eval_langs=["eng-Latn"],
            main_score="cosine_spearman",
            date=None,
            domains=None,
            task_subtypes=None,
            license=None,
            annotations_creators="human-annotated",
            dialect=None,
            sample_creation="found",
            bibtex_citation="",
        )
        min_score = spec.min_score
        max_score = spec.max_score

        def load_data(self, **kwargs) -> None:
            data = Dataset.from_dict(
                {"sentence1": pairs.sentences1, "sentence2": pairs.sentences2, "score": pairs.scores}
            )
            self.dataset = {"default": DatasetDict({spec.split: data})}
            self.data_loaded = True

    return LocalSTS()


def score_with_mteb(encode: Encoder, spec: STSTaskSpec, pairs: STSPairs, name: str) -> dict[str, float]:
    """mteb's STS metrics for ``pairs`` (x100)."""
    import mteb

    result = mteb.evaluate(
        mteb_encoder(encode, name), mteb_task(spec, pairs), cache=None, show_progress_bar=False
    )
    raw = result.task_results[0].scores[spec.split][0]
    keys = ("cosine_spearman", "cosine_pearson", "manhattan_spearman", "euclidean_spearman")
    return {key: float(raw[key]) * 100 for key in keys}


def pair_cosines(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``first`` with the same row of ``second`` (float64)."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.where(norms > 0, norms, 1.0)


MIN_PAIRS = 3  # a Spearman correlation of two pairs is always +-1: no information


def check_scorable(task: str, pairs: STSPairs, limit: int | None) -> None:
    """Refuse a task whose Spearman would be undefined or meaningless: too few pairs, constant gold."""
    where = f" (--limit {limit})" if limit else ""
    files = ", ".join(str(p) for p in dict.fromkeys(pairs.files))
    if len(pairs) == 0:
        raise BenchError(f"{task}: no scored pairs in {files}")
    if len(pairs) < MIN_PAIRS:
        raise BenchError(
            f"{task}: {len(pairs)} pair(s){where}; a Spearman correlation needs at least {MIN_PAIRS}"
        )
    if len(set(pairs.scores)) == 1:
        raise BenchError(
            f"{task}: every gold score{where} is {pairs.scores[0]}, so Spearman is undefined ({files})"
        )


def check_predictions(name: str, task: str, cosines: np.ndarray) -> None:
    """Refuse embeddings whose cosines are not finite or all equal (a collapsed or broken encoder)."""
    if not np.all(np.isfinite(cosines)):
        bad = int((~np.isfinite(cosines)).sum())
        raise BenchError(f"{name} / {task}: {bad} pair cosine(s) are not finite (NaN or inf embeddings)")
    if np.ptp(cosines) == 0:
        raise BenchError(
            f"{name} / {task}: every pair has the same cosine ({cosines[0]:.6f}); the embeddings do not "
            "depend on the sentence, so Spearman is undefined"
        )


class STSSuite(Suite):
    """A list of STS tasks scored by Spearman of cosine similarity x 100."""

    min_examples = MIN_PAIRS

    def __init__(self, name: str, description: str, tasks: list[str]) -> None:
        self.name = name
        self.description = description
        self.tasks = tasks

    def task_names(self) -> list[str]:
        return list(self.tasks)

    def spec(self, task: str) -> STSTaskSpec:
        if task not in self.tasks:
            raise BenchError(f"suite {self.name!r} has no task {task!r} (tasks: {', '.join(self.tasks)})")
        return STS_TASKS[task]

    def task_size(self, task: str, data_dir: Path) -> int | None:
        return len(self.load(task, data_dir, None))

    def load(self, task: str, data_dir: Path, limit: int | None) -> STSPairs:
        pairs = self.spec(task).read(data_dir)
        return pairs.head(limit) if limit else pairs

    def data_files(self, task: str, data_dir: Path) -> list[Path]:
        return self.spec(task).read(data_dir).files

    def check_task(self, task: str, data_dir: Path, limit: int | None) -> None:
        check_scorable(task, self.load(task, data_dir, limit), limit)

    def column_label(self, task: str) -> str:
        return COLUMN_LABELS.get(task, task)

    def evaluate(self, evaluand: Evaluand, task: str, data_dir: Path, limit: int | None) -> TaskOutcome:
        spec = self.spec(task)
        pairs = self.load(task, data_dir, limit)
        check_scorable(task, pairs, limit)
        unique = list(dict.fromkeys(pairs.sentences1 + pairs.sentences2))
        start = time.perf_counter()
        evaluand.encode(unique)  # encode every distinct sentence once, length-sorted, before mteb asks
        encode_seconds = time.perf_counter() - start
        cosines = pair_cosines(evaluand.encode(pairs.sentences1), evaluand.encode(pairs.sentences2))
        check_predictions(evaluand.name, task, cosines)
        scores = score_with_mteb(evaluand.encode, spec, pairs, evaluand.name)
        scores["spearman"] = scores["cosine_spearman"]
        return TaskOutcome(
            scores=scores,
            main_metric="spearman",
            n_examples=len(pairs),
            split=spec.split,
            stats={"unique_sentences": len(unique), "encode_seconds": round(encode_seconds, 3)},
            predictions={"cosine": cosines, "gold": np.asarray(pairs.scores, dtype=np.float64)},
        )


STS_SUITE = STSSuite(
    "sts",
    "STS12-16, STS-B test, SICK-R test: Spearman(cosine) x 100, SentEval 'all' protocol",
    ["STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK-R"],
)
STS_DEV_SUITE = STSSuite(
    "sts-dev", "STS-B dev (1,500 pairs): the model-selection split", ["STSBenchmark-dev"]
)
