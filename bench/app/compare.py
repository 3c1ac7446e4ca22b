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
ByTask = dict[str, dict[int, ResultRecord]]  # task -> seed -> record

STS_TEST = "paired bootstrap over pairs, stratified by task (seeds resampled too), {n:,} resamples"
GEN_TEST = "paired bootstrap over documents, stratified by task, {n:,} resamples"


@dataclass(frozen=True)
class RowComparison:
    """A (rows of method A) vs B (rows of the baseline) over the tasks both have."""

    label_a: str
    label_b: str
    result: st.PairedBootstrapResult
    test: str
    dependent: dict[str, st.DependentCorrelationComparison] = field(default_factory=dict)  # STS
    mcnemar: dict[str, st.McNemarResult] = field(default_factory=dict)  # gen, 0/1 outcomes


def _by_task_and_seed(records: Sequence[ResultRecord]) -> ByTask:
    out: ByTask = {}
    for record in records:
        out.setdefault(record.task, {})[record.seed] = record
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
    """Compare two rows of one suite table on the tasks both rows have."""
    if not records_a or not records_b:
        raise BenchError("nothing to compare: a row has no results")
    a, b = _by_task_and_seed(records_a), _by_task_and_seed(records_b)
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
        dependent[task] = st.compare_dependent_correlations(gold, preds_a.mean(0), preds_b.mean(0))
    result = st.hierarchical_bootstrap_sts(sts_tasks, n_resamples=n_resamples, seed=seed)
    return RowComparison(label_a, label_b, result, STS_TEST.format(n=n_resamples), dependent=dependent)


def _compare_gen(
    label_a: str, label_b: str, tasks: list[str], a: ByTask, b: ByTask, predictions: Predictions,
    n_resamples: int, seed: int,
) -> RowComparison:  # fmt: skip
    value_tasks, mcnemar = [], {}
    for task in tasks:
        metric = next(iter(a[task].values())).main_metric or ""
        name = metric.split(",")[0]
        try:
            values_a = _seed_matrix(a[task], predictions, name).mean(0)
            values_b = _seed_matrix(b[task], predictions, name).mean(0)
        except BenchError:
            continue  # e.g. perplexity: no per-document numbers
        if values_a.shape != values_b.shape:
            raise BenchError(f"{task}: the two rows were scored on different documents")
        value_tasks.append(st.PairedValuesTask(task, values_a, values_b))
        if np.all(np.isin(values_a, (0.0, 1.0))) and np.all(np.isin(values_b, (0.0, 1.0))):
            mcnemar[task] = st.mcnemar_exact(values_a, values_b)
    if not value_tasks:
        raise BenchError(f"{label_a} vs {label_b}: no task with per-document outcomes")
    result = st.paired_bootstrap_means(value_tasks, n_resamples=n_resamples, seed=seed, scale=100.0)
    return RowComparison(label_a, label_b, result, GEN_TEST.format(n=n_resamples), mcnemar=mcnemar)
