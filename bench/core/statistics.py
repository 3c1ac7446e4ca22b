"""Paired significance tests for comparing two methods on the same items.

Everything here compares a method A with a method B evaluated on the *same* items (a paired design):

* Spearman's rho, and an exact Spearman for many bootstrap resamples at once;
* a paired, task-stratified percentile bootstrap for STS tasks (Spearman x100) and for per-document
  scores of generation tasks (accuracy x100, or any per-document value such as a log-likelihood);
* a two-level (hierarchical) bootstrap that resamples items *and* training seeds;
* Williams' t and Steiger's Z for two dependent correlations that share the gold scores;
* McNemar's exact test, Holm's step-down adjustment, and mean / standard deviation over seeds.

Invalid input (too few items, constant gold scores, length mismatch, NaN, ...) raises ``ValueError``.
The module depends only on numpy and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]

MIN_ITEMS = 3
"""Smallest number of items per task accepted by the tests in this module."""

DEFAULT_RESAMPLES = 10_000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0

_CHUNK_CELLS = 1 << 17
"""Resamples are processed in chunks of about this many (resample x item) cells, to stay in the CPU cache."""


# ----------------------------------------------------------------------------------------------------------
# Result and input types
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedComparison:
    """Observed scores of A and B, their difference and its bootstrap interval and p-value."""

    name: str
    score_a: float
    score_b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    n_resamples: int
    confidence: float


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Per-task comparisons plus the comparison of the unweighted mean over tasks."""

    metric: str
    per_task: tuple[PairedComparison, ...]
    average: PairedComparison
    seed: int
    n_seeds_a: int = 1
    n_seeds_b: int = 1

    def task(self, name: str) -> PairedComparison:
        """The comparison for the task called ``name``."""
        for comparison in self.per_task:
            if comparison.name == name:
                return comparison
        raise KeyError(name)


@dataclass(frozen=True)
class TestResult:
    """A test statistic, its two-sided p-value and, for t statistics, the degrees of freedom."""

    __test__ = False  # not a pytest test class

    statistic: float
    p_value: float
    df: float | None = None


@dataclass(frozen=True)
class DependentCorrelationComparison:
    """Williams' t and Steiger's Z for corr(gold, A) versus corr(gold, B) on the same items."""

    method: str
    n_items: int
    r_gold_a: float
    r_gold_b: float
    r_a_b: float
    williams: TestResult
    steiger: TestResult


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test on paired 0/1 outcomes."""

    n_items: int
    only_a_correct: int
    only_b_correct: int
    accuracy_a: float
    accuracy_b: float
    p_value: float


@dataclass(frozen=True)
class MeanSd:
    """Mean, sample standard deviation (ddof=1; 0.0 for a single value) and count; unpacks as a tuple."""

    mean: float
    sd: float
    n: int

    def __iter__(self) -> Iterator[float | int]:
        return iter((self.mean, self.sd, self.n))


@dataclass(frozen=True, eq=False)
class StsTask:
    """Gold similarity scores and the predictions (cosines) of methods A and B for one STS task."""

    name: str
    gold: FloatArray
    pred_a: FloatArray
    pred_b: FloatArray

    def __post_init__(self) -> None:
        gold = _vector(self.gold, f"{self.name}: gold")
        pred_a = _vector(self.pred_a, f"{self.name}: pred_a")
        pred_b = _vector(self.pred_b, f"{self.name}: pred_b")
        _check_correlation_inputs(self.name, gold, {"pred_a": pred_a, "pred_b": pred_b})
        object.__setattr__(self, "gold", gold)
        object.__setattr__(self, "pred_a", pred_a)
        object.__setattr__(self, "pred_b", pred_b)

    @property
    def n_items(self) -> int:
        return self.gold.size


@dataclass(frozen=True, eq=False)
class StsSeedsTask:
    """Gold scores and per-seed predictions, shape (n_seeds, n_items), of methods A and B for one task."""

    name: str
    gold: FloatArray
    preds_a: FloatArray
    preds_b: FloatArray

    def __post_init__(self) -> None:
        gold = _vector(self.gold, f"{self.name}: gold")
        preds_a = _seed_matrix(self.preds_a, f"{self.name}: preds_a")
        preds_b = _seed_matrix(self.preds_b, f"{self.name}: preds_b")
        named = {f"preds_a[{s}]": p for s, p in enumerate(preds_a)}
        named |= {f"preds_b[{s}]": p for s, p in enumerate(preds_b)}
        _check_correlation_inputs(self.name, gold, named)
        object.__setattr__(self, "gold", gold)
        object.__setattr__(self, "preds_a", preds_a)
        object.__setattr__(self, "preds_b", preds_b)

    @property
    def n_items(self) -> int:
        return self.gold.size


@dataclass(frozen=True, eq=False)
class PairedValuesTask:
    """Per-document values of methods A and B for one task, paired by document (e.g. 0/1 correctness)."""

    name: str
    values_a: FloatArray
    values_b: FloatArray

    def __post_init__(self) -> None:
        values_a = _vector(self.values_a, f"{self.name}: values_a")
        values_b = _vector(self.values_b, f"{self.name}: values_b")
        if values_a.size != values_b.size:
            raise ValueError(
                f"{self.name}: length mismatch, values_a has {values_a.size} items, values_b {values_b.size}"
            )
        if values_a.size < MIN_ITEMS:
            raise ValueError(f"{self.name}: need at least {MIN_ITEMS} items, got {values_a.size}")
        object.__setattr__(self, "values_a", values_a)
        object.__setattr__(self, "values_b", values_b)

    @property
    def n_items(self) -> int:
        return self.values_a.size


# ----------------------------------------------------------------------------------------------------------
# Spearman correlation
# ----------------------------------------------------------------------------------------------------------


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rho: the Pearson correlation of average ranks (ties share their mean rank).

    rho = cov(R(x), R(y)) / (sd(R(x)) sd(R(y)))  (Spearman 1904). Not multiplied by 100.
    """
    x_arr = _vector(x, "x")
    y_arr = _vector(y, "y")
    _check_correlation_inputs("spearman", x_arr, {"y": y_arr}, first_name="x")
    return _pearson(stats.rankdata(x_arr), stats.rankdata(y_arr))


def spearman_resamples(
    gold: npt.ArrayLike,
    pred_a: npt.ArrayLike,
    pred_b: npt.ArrayLike,
    idx: npt.ArrayLike,
    chunk_size: int = 500,
) -> tuple[FloatArray, FloatArray]:
    """Spearman's rho of gold with A and with B on every resample ``gold[idx[b]]`` (idx: B x n indices).

    Ranks are recomputed per resample: duplicated items and equal values share their average rank, exactly
    as ``scipy.stats.rankdata(gold[idx], axis=1)`` would give. A resample with constant ranks gives NaN.
    """
    gold_arr = _vector(gold, "gold")
    a_arr = _vector(pred_a, "pred_a")
    b_arr = _vector(pred_b, "pred_b")
    _check_correlation_inputs("spearman_resamples", gold_arr, {"pred_a": a_arr, "pred_b": b_arr})
    idx_arr = np.asarray(idx)
    n = gold_arr.size
    if idx_arr.ndim != 2 or not np.issubdtype(idx_arr.dtype, np.integer):
        raise ValueError(f"idx must be a 2-D integer array, got shape {idx_arr.shape} ({idx_arr.dtype})")
    if idx_arr.size and (idx_arr.min() < 0 or idx_arr.max() >= n):
        raise ValueError(f"idx must lie in [0, {n - 1}]")
    gold_plan, plans = _RankPlan(gold_arr), [_RankPlan(a_arr), _RankPlan(b_arr)]
    rho = np.empty((idx_arr.shape[0], 2))
    for start in range(0, idx_arr.shape[0], max(1, chunk_size)):
        rows = slice(start, start + max(1, chunk_size))
        rho[rows] = _spearman_of_resamples(_counts_from_indices(idx_arr[rows], n), gold_plan, plans)
    return rho[:, 0], rho[:, 1]


class _RankPlan:
    """Sort order and tie groups of one variable, to rank any bootstrap resample of it without sorting.

    A resample is a multiset of the n items in which item j appears c_j times. The average rank of a value v
    in it is  #(drawn values < v) + (#(drawn values == v) + 1) / 2,  a cumulative sum of the counts over
    the values in sorted order, and the mean rank is (n + 1) / 2. If the drawn values form tie groups of
    sizes m_g, then sum (rank - (n + 1) / 2)^2 = (n^3 - n) / 12 - sum_g (m_g^3 - m_g) / 12 (Kendall 1945).
    """

    def __init__(self, values: FloatArray) -> None:
        self.n = values.size
        self.order = np.argsort(values, kind="stable")
        sorted_values = values[self.order]
        starts_new_value = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
        self.group_starts = np.flatnonzero(starts_new_value)
        self.group_of_item = np.empty(self.n, dtype=np.intp)
        self.group_of_item[self.order] = np.cumsum(starts_new_value) - 1
        self.has_ties = self.group_starts.size < self.n

    def ranks(self, counts: IntArray, item_cubes: FloatArray) -> tuple[IntArray, FloatArray]:
        """Doubled centred ranks d = 2 rank - (n + 1) of every item per resample, and sum d^2 per resample.

        counts: (k, n) draws per item. item_cubes: sum_j c_j^3 per resample, the tie term when the values
        themselves have no ties (a tie group is then one item drawn c_j times).
        """
        drawn = np.take(counts, self.order, axis=1)
        if self.has_ties:
            drawn = np.add.reduceat(drawn, self.group_starts, axis=1)
            drawn_float = drawn.astype(np.float64)
            group_cubes = _row_dot(drawn_float**2, drawn_float)
        else:
            group_cubes = item_cubes
        # 2 rank = 2 (drawn_up_to - drawn) + drawn + 1, so d = 2 drawn_up_to - drawn - n (in place below)
        doubled = np.cumsum(drawn, axis=1, dtype=counts.dtype)
        doubled *= 2
        doubled -= drawn
        doubled -= self.n
        sum_of_squares = (float(self.n) ** 3 - group_cubes) / 3.0
        return np.take(doubled, self.group_of_item, axis=1), sum_of_squares


def _spearman_of_resamples(counts: IntArray, gold_plan: _RankPlan, plans: Sequence[_RankPlan]) -> FloatArray:
    """Spearman's rho of gold with each prediction, shape (k, len(plans)): count-weighted Pearson of ranks.

    rho = sum_j c_j d_gold,j d_pred,j / sqrt(sum_j c_j d_gold,j^2 * sum_j c_j d_pred,j^2); all sums are
    exact integers in float64. A resample with constant ranks gives NaN.
    """
    weights = counts.astype(np.float64)
    item_cubes = _row_dot(weights**2, weights)
    d_gold, ss_gold = gold_plan.ranks(counts, item_cubes)
    weighted_gold = weights * d_gold
    rho = np.empty((counts.shape[0], len(plans)))
    with np.errstate(invalid="ignore", divide="ignore"):
        for p, plan in enumerate(plans):
            d_pred, ss_pred = plan.ranks(counts, item_cubes)
            rho[:, p] = _row_dot(weighted_gold, d_pred.astype(np.float64)) / np.sqrt(ss_gold * ss_pred)
    return rho


def _row_dot(x: FloatArray, y: FloatArray) -> FloatArray:
    """Row-wise dot product of two (k, n) arrays (batched matrix product, BLAS-backed)."""
    return np.matmul(x[:, None, :], y[:, :, None])[:, 0, 0]


def _counts_from_indices(idx: npt.NDArray[np.integer], n: int) -> IntArray:
    """How often each of the n items occurs in each row of idx, shape (rows, n)."""
    rows = idx.shape[0]
    flat = (idx + n * np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.int32)


def _pearson(x: FloatArray, y: FloatArray) -> float:
    dx = x - x.mean()
    dy = y - y.mean()
    return float(np.dot(dx, dy) / math.sqrt(np.dot(dx, dx) * np.dot(dy, dy)))


# ----------------------------------------------------------------------------------------------------------
# Bootstrap summaries
# ----------------------------------------------------------------------------------------------------------


def percentile_ci(boot: npt.ArrayLike, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Percentile interval [q_(alpha/2), q_(1-alpha/2)] of bootstrap replicates, alpha = 1 - confidence.

    Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 13.
    """
    _check_confidence(confidence)
    values = np.asarray(boot, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no bootstrap replicates")
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def bootstrap_p_value(boot: npt.ArrayLike, observed: float) -> float:
    """Two-sided p-value of H0: delta = 0 from the bootstrap distribution shifted to be centred under H0.

    p = (#{b : |delta_b - delta_hat| >= |delta_hat|} + 1) / (B + 1); p = 1 when delta_hat == 0.
    Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 16; Davison & Hinkley (1997), Bootstrap
    Methods and their Application, ch. 4 (the +1 correction).
    """
    values = np.asarray(boot, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no bootstrap replicates")
    if observed == 0.0:
        return 1.0
    extreme = np.count_nonzero(np.abs(values - observed) >= abs(observed))
    return float((extreme + 1) / (values.size + 1))


def _compare(
    name: str,
    score_a: float,
    score_b: float,
    boot_delta: FloatArray,
    n_items: int,
    confidence: float,
) -> PairedComparison:
    """Summarise one comparison; resamples where the statistic is undefined (NaN) are left out."""
    valid = boot_delta[np.isfinite(boot_delta)]
    if valid.size == 0:
        raise ValueError(f"{name}: the statistic is undefined in every bootstrap resample")
    delta = score_a - score_b
    ci_low, ci_high = percentile_ci(valid, confidence)
    return PairedComparison(
        name=name,
        score_a=score_a,
        score_b=score_b,
        delta=delta,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=bootstrap_p_value(valid, delta),
        n_items=n_items,
        n_resamples=int(valid.size),
        confidence=confidence,
    )


def _summarise(
    metric: str,
    names: Sequence[str],
    sizes: Sequence[int],
    observed_a: FloatArray,
    observed_b: FloatArray,
    boot_a: FloatArray,
    boot_b: FloatArray,
    seed: int,
    confidence: float,
    n_seeds: tuple[int, int] = (1, 1),
) -> PairedBootstrapResult:
    """Per-task results and the result for the unweighted mean over tasks of the per-task differences."""
    boot_delta = boot_a - boot_b
    per_task = tuple(
        _compare(name, float(observed_a[t]), float(observed_b[t]), boot_delta[:, t], sizes[t], confidence)
        for t, name in enumerate(names)
    )
    average = _compare(
        "average",
        float(observed_a.mean()),
        float(observed_b.mean()),
        boot_delta.mean(axis=1),
        int(sum(sizes)),
        confidence,
    )
    return PairedBootstrapResult(
        metric=metric,
        per_task=per_task,
        average=average,
        seed=seed,
        n_seeds_a=n_seeds[0],
        n_seeds_b=n_seeds[1],
    )


# ----------------------------------------------------------------------------------------------------------
# Paired, task-stratified bootstrap
# ----------------------------------------------------------------------------------------------------------

_ChunkStatistic = Callable[[int, IntArray, slice], tuple[FloatArray, FloatArray]]


def _random_streams(seed: int, n_tasks: int) -> tuple[np.random.Generator, list[np.random.Generator]]:
    """One generator for seed draws and one per task for item draws, each reproducible on its own."""
    seed_sequence, *task_sequences = np.random.SeedSequence(seed).spawn(n_tasks + 1)
    return np.random.default_rng(seed_sequence), [np.random.default_rng(s) for s in task_sequences]


def _stratified_bootstrap(
    sizes: Sequence[int],
    statistic: _ChunkStatistic,
    n_resamples: int,
    task_rngs: Sequence[np.random.Generator],
) -> tuple[FloatArray, FloatArray]:
    """Run the paired bootstrap, items drawn with replacement independently within each task.

    ``statistic(t, counts, rows)`` returns the scores of A and B of task t for the resamples ``rows``; counts
    (rows x n_t) says how often each item was drawn. The same draw serves A and B (paired design).
    Returns the scores of A and B, each of shape (n_resamples, n_tasks).
    """
    boot_a = np.empty((n_resamples, len(sizes)))
    boot_b = np.empty((n_resamples, len(sizes)))
    for t, (n, rng) in enumerate(zip(sizes, task_rngs, strict=True)):
        chunk = max(1, _CHUNK_CELLS // n)
        for start in range(0, n_resamples, chunk):
            rows = slice(start, min(start + chunk, n_resamples))
            idx = rng.integers(0, n, size=(rows.stop - rows.start, n))
            boot_a[rows, t], boot_b[rows, t] = statistic(t, _counts_from_indices(idx, n), rows)
    return boot_a, boot_b


def paired_bootstrap_sts(
    tasks: Sequence[StsTask],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> PairedBootstrapResult:
    """Paired, task-stratified bootstrap of delta = 100 * (rho_A - rho_B) per task and averaged over tasks.

    Each resample draws n_t items with replacement independently within every task t, the same items for A
    and B; rho is Spearman's rho recomputed on the resample. Average: mean over tasks of the per-task deltas.
    Interval: percentile; p-value: shifted bootstrap distribution (see ``bootstrap_p_value``).
    Efron & Tibshirani (1993); Koehn (2004), EMNLP, for paired bootstrap comparisons of two systems.
    """
    _check_tasks(tasks)
    _check_bootstrap_args(n_resamples, confidence)
    _, task_rngs = _random_streams(seed, len(tasks))
    plans = [(_RankPlan(t.gold), [_RankPlan(t.pred_a), _RankPlan(t.pred_b)]) for t in tasks]

    def statistic(t: int, counts: IntArray, rows: slice) -> tuple[FloatArray, FloatArray]:
        gold_plan, pred_plans = plans[t]
        rho = 100.0 * _spearman_of_resamples(counts, gold_plan, pred_plans)
        return rho[:, 0], rho[:, 1]

    sizes = [t.n_items for t in tasks]
    boot_a, boot_b = _stratified_bootstrap(sizes, statistic, n_resamples, task_rngs)
    observed_a = np.array([100.0 * spearman(t.gold, t.pred_a) for t in tasks])
    observed_b = np.array([100.0 * spearman(t.gold, t.pred_b) for t in tasks])
    names = [t.name for t in tasks]
    return _summarise("spearman_x100", names, sizes, observed_a, observed_b, boot_a, boot_b, seed, confidence)


def hierarchical_bootstrap_sts(
    tasks: Sequence[StsSeedsTask],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    resample_seeds: bool = True,
) -> PairedBootstrapResult:
    """Two-level bootstrap over items and training seeds of delta = 100 * (mean_s rho_A,s - mean_s rho_B,s).

    Score of a method with S seeds: the mean over its seeds of the per-seed Spearman's rho. Each resample
    (1) draws items with replacement within every task, the same items for all seeds of A and B, and
    (2) draws S_A seeds of A and S_B seeds of B with replacement, once per resample and shared by all tasks
    (a seed is one trained model evaluated on every task); the score is the mean over the drawn seeds.
    A method with one seed (e.g. a training-free baseline) contributes item-level variation only.
    With ``resample_seeds=False`` only items are resampled (all seeds kept), which ignores seed-to-seed
    variation. With one seed per method the result equals ``paired_bootstrap_sts`` with the same seed.
    Davison & Hinkley (1997), ch. 3 (hierarchical data); Ren et al. (2010), J. Appl. Stat. 37:1487-1498.
    """
    _check_tasks(tasks)
    _check_bootstrap_args(n_resamples, confidence)
    n_seeds_a, n_seeds_b = tasks[0].preds_a.shape[0], tasks[0].preds_b.shape[0]
    for task in tasks:
        if task.preds_a.shape[0] != n_seeds_a or task.preds_b.shape[0] != n_seeds_b:
            raise ValueError(
                f"{task.name}: every task needs the same seeds; expected {n_seeds_a} seeds for A and "
                f"{n_seeds_b} for B, got {task.preds_a.shape[0]} and {task.preds_b.shape[0]}"
            )
    seed_rng, task_rngs = _random_streams(seed, len(tasks))
    weights_a = _seed_weights(seed_rng, n_seeds_a, n_resamples, resample_seeds)
    weights_b = _seed_weights(seed_rng, n_seeds_b, n_resamples, resample_seeds)
    plans = [
        (_RankPlan(t.gold), [_RankPlan(p) for p in t.preds_a] + [_RankPlan(p) for p in t.preds_b])
        for t in tasks
    ]

    def statistic(t: int, counts: IntArray, rows: slice) -> tuple[FloatArray, FloatArray]:
        gold_plan, pred_plans = plans[t]
        rho = 100.0 * _spearman_of_resamples(counts, gold_plan, pred_plans)
        score_a = _row_dot(rho[:, :n_seeds_a], weights_a[rows]) / n_seeds_a
        score_b = _row_dot(rho[:, n_seeds_a:], weights_b[rows]) / n_seeds_b
        return score_a, score_b

    sizes = [t.n_items for t in tasks]
    boot_a, boot_b = _stratified_bootstrap(sizes, statistic, n_resamples, task_rngs)
    observed_a = np.array([np.mean([100.0 * spearman(t.gold, p) for p in t.preds_a]) for t in tasks])
    observed_b = np.array([np.mean([100.0 * spearman(t.gold, p) for p in t.preds_b]) for t in tasks])
    names = [t.name for t in tasks]
    metric = "spearman_x100_seed_mean"
    return _summarise(
        metric, names, sizes, observed_a, observed_b, boot_a, boot_b, seed, confidence, (n_seeds_a, n_seeds_b)
    )


def _seed_weights(rng: np.random.Generator, n_seeds: int, n_resamples: int, resample: bool) -> FloatArray:
    """How often each seed is drawn per resample, shape (n_resamples, n_seeds); all ones if not resampled."""
    if n_seeds == 1 or not resample:
        return np.ones((n_resamples, n_seeds))
    draws = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    return _counts_from_indices(draws, n_seeds).astype(np.float64)


def paired_bootstrap_means(
    tasks: Sequence[PairedValuesTask],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    scale: float = 1.0,
) -> PairedBootstrapResult:
    """Paired, task-stratified bootstrap of delta = scale * (mean(values_A) - mean(values_B)) per task.

    Documents are drawn with replacement independently within each task, the same documents for A and B;
    the average is the mean over tasks of the per-task deltas. Use for per-document log-likelihoods etc.
    Efron & Tibshirani (1993); Koehn (2004).
    """
    _check_tasks(tasks)
    _check_bootstrap_args(n_resamples, confidence)
    _, task_rngs = _random_streams(seed, len(tasks))

    def statistic(t: int, counts: IntArray, rows: slice) -> tuple[FloatArray, FloatArray]:
        task = tasks[t]
        weights = counts.astype(np.float64)
        mean_a = (weights @ task.values_a) / task.n_items
        mean_b = (weights @ task.values_b) / task.n_items
        return scale * mean_a, scale * mean_b

    sizes = [t.n_items for t in tasks]
    boot_a, boot_b = _stratified_bootstrap(sizes, statistic, n_resamples, task_rngs)
    observed_a = np.array([scale * t.values_a.mean() for t in tasks])
    observed_b = np.array([scale * t.values_b.mean() for t in tasks])
    names = [t.name for t in tasks]
    metric = "mean" if scale == 1.0 else f"mean_x{scale:g}"
    return _summarise(metric, names, sizes, observed_a, observed_b, boot_a, boot_b, seed, confidence)


def paired_bootstrap_accuracy(
    tasks: Sequence[PairedValuesTask],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> PairedBootstrapResult:
    """Paired, task-stratified bootstrap of delta = 100 * (accuracy_A - accuracy_B); values must be 0 or 1.

    Accuracy is the mean per-document correctness; see ``paired_bootstrap_means`` for the resampling.
    """
    for task in tasks:
        _check_binary(task.name, task.values_a, "values_a")
        _check_binary(task.name, task.values_b, "values_b")
    result = paired_bootstrap_means(tasks, n_resamples, seed, confidence, scale=100.0)
    return PairedBootstrapResult(
        metric="accuracy_x100", per_task=result.per_task, average=result.average, seed=result.seed
    )


# ----------------------------------------------------------------------------------------------------------
# Tests for two dependent correlations sharing one variable
# ----------------------------------------------------------------------------------------------------------


def williams_t(r12: float, r13: float, r23: float, n: int) -> TestResult:
    """Williams' t for H0: rho12 = rho13 when variable 1 is shared; two-sided, df = n - 3.

    t = (r12 - r13) sqrt((n-1)(1+r23)) / sqrt(2 (n-1)/(n-3) |R| + rbar^2 (1-r23)^3),
    |R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23, rbar = (r12 + r13) / 2.
    Williams (1959), J. R. Stat. Soc. B 21:396-399; Steiger (1980), Psychol. Bull. 87:245-251, eq. 7.
    """
    _check_correlation_triple(r12, r13, r23, n)
    df = n - 3
    if r12 == r13:
        return TestResult(statistic=0.0, p_value=1.0, df=df)
    det_r = 1.0 - r12**2 - r13**2 - r23**2 + 2.0 * r12 * r13 * r23
    r_bar = (r12 + r13) / 2.0
    denominator = 2.0 * (n - 1) / (n - 3) * det_r + r_bar**2 * (1.0 - r23) ** 3
    t = (r12 - r13) * math.sqrt((n - 1) * (1.0 + r23)) / math.sqrt(denominator)
    return TestResult(statistic=t, p_value=float(2.0 * stats.t.sf(abs(t), df)), df=df)


def steiger_z(r12: float, r13: float, r23: float, n: int) -> TestResult:
    """Steiger's Z for H0: rho12 = rho13 (variable 1 shared), Fisher z with pooled rbar; two-sided.

    Z = (z12 - z13) sqrt(n - 3) / sqrt(2 - 2 s),  z = artanh(r),  rbar = (r12 + r13) / 2,
    s = psi / (1 - rbar^2)^2,  psi = r23 (1 - 2 rbar^2) - rbar^2 (1 - 2 rbar^2 - r23^2) / 2.
    Steiger (1980), Psychol. Bull. 87:245-251, eq. 14 (covariance of eq. 3 evaluated at the pooled rbar).
    """
    _check_correlation_triple(r12, r13, r23, n)
    if r12 == r13:
        return TestResult(statistic=0.0, p_value=1.0)
    r_bar = (r12 + r13) / 2.0
    psi = r23 * (1.0 - 2.0 * r_bar**2) - 0.5 * r_bar**2 * (1.0 - 2.0 * r_bar**2 - r23**2)
    s = psi / (1.0 - r_bar**2) ** 2
    with np.errstate(divide="ignore"):
        z = (np.arctanh(r12) - np.arctanh(r13)) * math.sqrt(n - 3) / math.sqrt(2.0 - 2.0 * s)
    return TestResult(statistic=float(z), p_value=float(2.0 * stats.norm.sf(abs(z))))


def compare_dependent_correlations(
    gold: npt.ArrayLike,
    pred_a: npt.ArrayLike,
    pred_b: npt.ArrayLike,
    method: str = "spearman",
) -> DependentCorrelationComparison:
    """Williams' t and Steiger's Z for corr(gold, A) versus corr(gold, B), sharing gold.

    ``method="spearman"`` applies both formulas to Spearman correlations (Pearson of average ranks), an
    approximation that is standard practice for rank correlations; ``"pearson"`` uses the raw values.
    """
    gold_arr = _vector(gold, "gold")
    a_arr = _vector(pred_a, "pred_a")
    b_arr = _vector(pred_b, "pred_b")
    _check_correlation_inputs("compare_dependent_correlations", gold_arr, {"pred_a": a_arr, "pred_b": b_arr})
    if method == "spearman":
        gold_arr, a_arr, b_arr = (stats.rankdata(v) for v in (gold_arr, a_arr, b_arr))
    elif method != "pearson":
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    r12, r13, r23 = _pearson(gold_arr, a_arr), _pearson(gold_arr, b_arr), _pearson(a_arr, b_arr)
    n = gold_arr.size
    return DependentCorrelationComparison(
        method=method,
        n_items=n,
        r_gold_a=r12,
        r_gold_b=r13,
        r_a_b=r23,
        williams=williams_t(r12, r13, r23, n),
        steiger=steiger_z(r12, r13, r23, n),
    )


# ----------------------------------------------------------------------------------------------------------
# McNemar, Holm, seeds
# ----------------------------------------------------------------------------------------------------------


def mcnemar_exact(correct_a: npt.ArrayLike, correct_b: npt.ArrayLike) -> McNemarResult:
    """McNemar's exact test on paired 0/1 outcomes; two-sided, p = 1 when there are no discordant pairs.

    With b = #(A right, B wrong), c = #(A wrong, B right): p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b+c, 1/2).
    McNemar (1947), Psychometrika 12:153-157; exact conditional form: Fagerland et al. (2013), BMC Med.
    Res. Methodol. 13:91.
    """
    a = _vector(correct_a, "correct_a")
    b = _vector(correct_b, "correct_b")
    if a.size != b.size:
        raise ValueError(f"length mismatch: correct_a has {a.size} items, correct_b {b.size}")
    if a.size == 0:
        raise ValueError("no items")
    _check_binary("mcnemar_exact", a, "correct_a")
    _check_binary("mcnemar_exact", b, "correct_b")
    only_a = int(np.count_nonzero((a == 1) & (b == 0)))
    only_b = int(np.count_nonzero((a == 0) & (b == 1)))
    discordant = only_a + only_b
    if discordant == 0:
        p_value = 1.0
    else:
        p_value = min(1.0, 2.0 * float(stats.binom.cdf(min(only_a, only_b), discordant, 0.5)))
    return McNemarResult(
        n_items=int(a.size),
        only_a_correct=only_a,
        only_b_correct=only_b,
        accuracy_a=float(a.mean()),
        accuracy_b=float(b.mean()),
        p_value=p_value,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in input order.

    With p_(1) <= ... <= p_(m): p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)).  Holm (1979), Scand. J. Stat.
    6:65-70. Reject H_(i) at level alpha when p~_(i) <= alpha.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p_values must be a flat sequence")
    if np.any(~np.isfinite(p)) or np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("p-values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    step_down = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = step_down
    return [float(v) for v in adjusted]


def mean_sd(values: Sequence[float] | npt.ArrayLike) -> MeanSd:
    """Mean and sample standard deviation sd = sqrt(sum (x - mean)^2 / (n - 1)); sd = 0.0 when n = 1."""
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("mean_sd needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError("values contain NaN or infinite entries")
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    return MeanSd(mean=float(x.mean()), sd=sd, n=int(x.size))


# ----------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------


def _vector(values: npt.ArrayLike, what: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def _seed_matrix(values: npt.ArrayLike, what: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{what} must have shape (n_seeds, n_items), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def _check_correlation_inputs(
    name: str, first: FloatArray, others: dict[str, FloatArray], first_name: str = "gold"
) -> None:
    for other_name, other in others.items():
        if other.size != first.size:
            raise ValueError(
                f"{name}: length mismatch, {first_name} has {first.size} items, {other_name} {other.size}"
            )
    if first.size < MIN_ITEMS:
        raise ValueError(f"{name}: need at least {MIN_ITEMS} items, got {first.size}")
    for what, values in {first_name: first, **others}.items():
        if np.all(values == values[0]):
            raise ValueError(f"{name}: {what} is constant, its correlation is undefined")


def _check_tasks(tasks: Sequence[StsTask] | Sequence[StsSeedsTask] | Sequence[PairedValuesTask]) -> None:
    if len(tasks) == 0:
        raise ValueError("no tasks given")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")


def _check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    _check_confidence(confidence)


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def _check_binary(name: str, values: FloatArray, what: str) -> None:
    if not np.all((values == 0.0) | (values == 1.0)):
        raise ValueError(f"{name}: {what} must contain only 0 and 1")


def _check_correlation_triple(r12: float, r13: float, r23: float, n: int) -> None:
    if n <= 3:
        raise ValueError(f"need more than 3 items for a test of dependent correlations, got {n}")
    for label, r in (("r12", r12), ("r13", r13), ("r23", r23)):
        if not -1.0 <= r <= 1.0:
            raise ValueError(f"{label} must lie in [-1, 1], got {r}")
