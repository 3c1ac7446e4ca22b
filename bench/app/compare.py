"""Paired comparison of two table rows (method A vs method B) from their stored per-item predictions.

STS: task-stratified paired bootstrap of the Spearman difference (items and, when a row has several
seeds, seeds resampled too), plus Williams' t / Steiger's Z per task. Generation: paired bootstrap of
per-document outcomes, plus McNemar for 0/1 outcomes. See ``bench.core.statistics`` for the formulas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.app.records import ResultRecord
from bench.core import statistics as st
from bench.core.errors import BenchError

Predictions = Callable[[ResultRecord], dict[str, np.ndarray]]
ByTask = dict[str, dict[int, ResultRecord]]  # item key (task, or task@limit) -> seed -> record


def item_key(task: str, limit: int | None) -> str:
    """What pairs two rows' results: the task and how many of its examples were scored."""
    return f"{task}@{limit}" if limit else task


STS_TEST = "paired bootstrap over pairs, stratified by task (seeds resampled too), {n:,} resamples"
GEN_TEST = (
    "paired bootstrap over documents, stratified by task (seeds averaged per document), {n:,} resamples"
)


@dataclass(frozen=True)
class RowComparison:
    """A (rows of method A) vs B (rows of the baseline) over the tasks both have."""

    label_a: str
    label_b: str
    result: st.PairedBootstrapResult
    test: str
    dependent: dict[str, st.DependentCorrelationComparison] = field(default_factory=dict)  # STS
    mcnemar: dict[str, st.McNemarResult] = field(default_factory=dict)  # gen, 0/1 outcomes of one seed
    skipped: tuple[str, ...] = ()  # items without per-item numbers on both sides (e.g. perplexity)


def _by_item_and_seed(records: Sequence[ResultRecord]) -> ByTask:
    out: ByTask = {}
    for record in records:
        seeds = out.setdefault(item_key(record.task, record.limit), {})
        if record.seed in seeds:
            raise BenchError(
                f"{record.method.label} / {record.task}: two results for seed {record.seed} "
                f"({seeds[record.seed].path} and {record.path}); select one model and data version"
            )
        seeds[record.seed] = record
    seed_sets = {tuple(sorted(seeds)) for seeds in out.values()}
    if len(seed_sets) > 1:
        shown = "; ".join(f"{item}: {sorted(seeds)}" for item, seeds in out.items())
        raise BenchError(f"{records[0].method.label}: every task needs the same seeds ({shown})")
    return out


def _arrays(record: ResultRecord, predictions: Predictions, name: str) -> np.ndarray:
    values = predictions(record).get(name)
    if values is None:
        raise BenchError(
            f"{record.method.label} / {record.task}: no stored per-item predictions ({name}); "
            "results computed before predictions were stored must be rerun with --overwrite"
        )
    return values


def compare_rows(
    records_a: Sequence[ResultRecord],
    records_b: Sequence[ResultRecord],
    predictions: Predictions,
    n_resamples: int = st.DEFAULT_RESAMPLES,
    seed: int = st.DEFAULT_SEED,
) -> RowComparison:
    """Compare two rows of one suite table on the items (task at one limit) both rows have."""
    if not records_a or not records_b:
        raise BenchError("nothing to compare: a row has no results")
    a, b = _by_item_and_seed(records_a), _by_item_and_seed(records_b)
    tasks = [t for t in a if t in b]
    if not tasks:
        raise BenchError(f"{records_a[0].method.label} and {records_b[0].method.label} share no task")
    label_a, label_b = records_a[0].method.label, records_b[0].method.label
    compare = _compare_sts if records_a[0].suite.startswith("sts") else _compare_gen
    try:
        return compare(label_a, label_b, tasks, a, b, predictions, n_resamples, seed)
    except ValueError as exc:  # the statistics refuse the input (e.g. seeds missing on a task)
        raise BenchError(f"{label_a} vs {label_b}: {exc}") from None


def _seed_matrix(rows: dict[int, ResultRecord], predictions: Predictions, name: str) -> np.ndarray:
    return np.stack([_arrays(rows[s], predictions, name) for s in sorted(rows)])


def _compare_sts(
    label_a: str, label_b: str, tasks: list[str], a: ByTask, b: ByTask, predictions: Predictions,
    n_resamples: int, seed: int,
) -> RowComparison:  # fmt: skip
    sts_tasks, dependent = [], {}
    for task in tasks:
        gold = _arrays(next(iter(b[task].values())), predictions, "gold")
        for rows in (a[task], b[task]):
            for record in rows.values():
                other = _arrays(record, predictions, "gold")
                if other.shape != gold.shape or not np.array_equal(other, gold):
                    raise BenchError(f"{task}: the two rows were scored on different pairs (gold differs)")
        preds_a = _seed_matrix(a[task], predictions, "cosine")
        preds_b = _seed_matrix(b[task], predictions, "cosine")
        sts_tasks.append(st.StsSeedsTask(task, gold, preds_a, preds_b))
        # several seeds: on the seed-mean cosine (so r differs from the mean of per-seed Spearmans)
        dependent[task] = st.compare_dependent_correlations(gold, preds_a.mean(0), preds_b.mean(0))
    result = st.hierarchical_bootstrap_sts(sts_tasks, n_resamples=n_resamples, seed=seed)
    return RowComparison(label_a, label_b, result, STS_TEST.format(n=n_resamples), dependent=dependent)


def _compare_gen(
    label_a: str, label_b: str, tasks: list[str], a: ByTask, b: ByTask, predictions: Predictions,
    n_resamples: int, seed: int,
) -> RowComparison:  # fmt: skip
    value_tasks, mcnemar, skipped = [], {}, []
    for task in tasks:
        metric = next(iter(a[task].values())).main_metric or ""
        name = metric.split(",")[0]
        records = [*a[task].values(), *b[task].values()]
        if all(name not in predictions(r) for r in records):
            skipped.append(task)  # e.g. perplexity: lm-eval logs no per-document number
            continue
        # seeds are averaged per document (not resampled, unlike STS)
        values_a = _seed_matrix(a[task], predictions, name).mean(0)
        values_b = _seed_matrix(b[task], predictions, name).mean(0)
        if values_a.shape != values_b.shape:
            raise BenchError(f"{task}: the two rows were scored on different documents")
        value_tasks.append(st.PairedValuesTask(task, values_a, values_b))
        if np.all(np.isin(values_a, (0.0, 1.0))) and np.all(np.isin(values_b, (0.0, 1.0))):
            mcnemar[task] = st.mcnemar_exact(values_a, values_b)
    if not value_tasks:
        raise BenchError(f"{label_a} vs {label_b}: no task with per-document outcomes")
    result = st.paired_bootstrap_means(value_tasks, n_resamples=n_resamples, seed=seed, scale=100.0)
    test = GEN_TEST.format(n=n_resamples)
    return RowComparison(label_a, label_b, result, test, mcnemar=mcnemar, skipped=tuple(skipped))
