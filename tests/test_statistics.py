"""Tests for bench.core.statistics: bootstrap, Williams/Steiger, McNemar, Holm, seed summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bench.core.statistics import (
    PairedBootstrapResult,
    PairedValuesTask,
    StsSeedsTask,
    StsTask,
    bootstrap_p_value,
    compare_dependent_correlations,
    hierarchical_bootstrap_sts,
    holm,
    mcnemar_exact,
    mean_sd,
    paired_bootstrap_accuracy,
    paired_bootstrap_means,
    paired_bootstrap_sts,
    percentile_ci,
    spearman,
    spearman_resamples,
    steiger_z,
    williams_t,
)


def sts_like_task(rng: np.random.Generator, name: str, n: int, noise_a: float, noise_b: float) -> StsTask:
    """Gold scores on a 0-5 grid with ties (as in STS), predictions = gold + Gaussian noise."""
    gold = np.round(rng.uniform(0.0, 5.0, n) * 5.0) / 5.0
    return StsTask(name, gold, gold + rng.normal(0.0, noise_a, n), gold + rng.normal(0.0, noise_b, n))


def trivariate_normal(
    rng: np.random.Generator, n: int, r_gold_a: float, r_gold_b: float, r_a_b: float, n_datasets: int
) -> np.ndarray:
    """n_datasets samples of n rows (gold, A, B) from a standard trivariate normal with these correlations."""
    cov = np.array([[1.0, r_gold_a, r_gold_b], [r_gold_a, 1.0, r_a_b], [r_gold_b, r_a_b, 1.0]])
    return rng.multivariate_normal(np.zeros(3), cov, size=(n_datasets, n))


def row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):  # constant rows give NaN
        return (dx * dy).sum(-1) / np.sqrt((dx * dx).sum(-1) * (dy * dy).sum(-1))


# ----------------------------------------------------------------------------------------------------------
# Spearman
# ----------------------------------------------------------------------------------------------------------


def test_spearman_agrees_with_scipy_spearmanr_with_ties() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 60).astype(float)
    y = x + rng.integers(-2, 3, 60)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


@pytest.mark.parametrize(("n", "gold_has_ties"), [(6, True), (40, True), (250, False)])
def test_spearman_resamples_equal_rankdata_on_each_resample(n: int, gold_has_ties: bool) -> None:
    rng = np.random.default_rng(n)
    gold = rng.integers(0, 6, n).astype(float) if gold_has_ties else rng.normal(size=n)
    pred_a = gold + rng.normal(size=n)
    pred_b = np.round(gold + rng.normal(size=n))  # ties in a prediction too
    idx = rng.integers(0, n, size=(400, n))

    rho_a, rho_b = spearman_resamples(gold, pred_a, pred_b, idx, chunk_size=37)

    ranks_gold = stats.rankdata(gold[idx], axis=1)
    expected_a = row_pearson(ranks_gold, stats.rankdata(pred_a[idx], axis=1))
    expected_b = row_pearson(ranks_gold, stats.rankdata(pred_b[idx], axis=1))
    np.testing.assert_allclose(rho_a, expected_a, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rho_b, expected_b, atol=1e-12, equal_nan=True)
    if n == 6:  # tiny tasks: some resamples have constant gold and an undefined rho, as in the reference
        assert np.isnan(expected_a).any()


# ----------------------------------------------------------------------------------------------------------
# Paired bootstrap for STS
# ----------------------------------------------------------------------------------------------------------


def test_identical_predictions_give_zero_delta_degenerate_ci_and_p_one() -> None:
    rng = np.random.default_rng(1)
    tasks = []
    for i, n in enumerate([50, 80]):
        task = sts_like_task(rng, f"task{i}", n, 1.0, 1.0)
        tasks.append(StsTask(task.name, task.gold, task.pred_a, task.pred_a.copy()))
    result = paired_bootstrap_sts(tasks, n_resamples=500)
    for comparison in (*result.per_task, result.average):
        assert comparison.delta == 0.0
        assert (comparison.ci_low, comparison.ci_high) == (0.0, 0.0)
        assert comparison.p_value == 1.0


def test_clearly_better_method_is_significant_on_every_task() -> None:
    rng = np.random.default_rng(2)
    tasks = [sts_like_task(rng, f"task{i}", 300, noise_a=0.3, noise_b=3.0) for i in range(3)]
    result = paired_bootstrap_sts(tasks)  # defaults: 10,000 resamples, seed 0
    assert result.average.n_resamples == 10_000
    for comparison in (*result.per_task, result.average):
        assert comparison.delta > 0.0
        assert comparison.ci_low > 0.0
        assert comparison.p_value < 0.01
    for task, comparison in zip(tasks, result.per_task, strict=True):
        assert comparison.score_a == pytest.approx(100 * stats.spearmanr(task.gold, task.pred_a).statistic)
        assert comparison.score_b == pytest.approx(100 * stats.spearmanr(task.gold, task.pred_b).statistic)
        assert comparison.n_items == 300
    assert result.average.n_items == 900
    assert result.average.delta == pytest.approx(np.mean([c.delta for c in result.per_task]))


def test_percentile_ci_covers_true_spearman_difference_in_simulation() -> None:
    # Bivariate normal: population Spearman rho_s = (6 / pi) arcsin(rho / 2) (Pearson 1907; Kruskal 1958).
    r_gold_a, r_gold_b, r_a_b = 0.8, 0.7, 0.6
    true_delta = 100 * 6 / math.pi * (math.asin(r_gold_a / 2) - math.asin(r_gold_b / 2))
    datasets = trivariate_normal(np.random.default_rng(3), 200, r_gold_a, r_gold_b, r_a_b, 300)
    covered = 0
    for data in datasets:
        task = StsTask("sim", data[:, 0], data[:, 1], data[:, 2])
        comparison = paired_bootstrap_sts([task], n_resamples=1000, seed=1).average
        covered += comparison.ci_low <= true_delta <= comparison.ci_high
    assert 0.90 <= covered / len(datasets) <= 0.99


def test_same_seed_reproduces_and_other_seed_changes_the_interval() -> None:
    rng = np.random.default_rng(4)
    tasks = [sts_like_task(rng, f"task{i}", 120, 1.0, 1.3) for i in range(2)]
    first = paired_bootstrap_sts(tasks, n_resamples=800, seed=11)
    again = paired_bootstrap_sts(tasks, n_resamples=800, seed=11)
    other = paired_bootstrap_sts(tasks, n_resamples=800, seed=12)
    assert first == again
    assert (first.average.ci_low, first.average.ci_high) != (other.average.ci_low, other.average.ci_high)
    assert first.average.delta == other.average.delta  # the observed difference does not depend on the seed


def test_resampling_is_stratified_by_task() -> None:
    # Items are drawn within each task from the stream of its list position: appending a task leaves the
    # others unchanged, and a task whose predictions are identical stays at exactly zero in every resample.
    rng = np.random.default_rng(5)
    first = sts_like_task(rng, "first", 90, 0.8, 1.6)
    same = sts_like_task(rng, "same", 70, 1.0, 1.0)
    same = StsTask("same", same.gold, same.pred_a, same.pred_a)
    alone = paired_bootstrap_sts([first], n_resamples=600, seed=3)
    together = paired_bootstrap_sts([first, same], n_resamples=600, seed=3)
    assert together.task("first") == alone.task("first")
    swapped = paired_bootstrap_sts([same, first], n_resamples=600, seed=3)  # streams follow list position
    assert swapped.task("first") != alone.task("first")
    assert swapped.task("first").delta == alone.task("first").delta
    assert together.task("same").ci_low == together.task("same").ci_high == 0.0
    assert together.average.delta == pytest.approx(alone.average.delta / 2)
    assert together.average.ci_low == pytest.approx(alone.average.ci_low / 2)
    assert together.average.ci_high == pytest.approx(alone.average.ci_high / 2)


def test_bootstrap_p_value_and_percentile_interval_by_hand() -> None:
    # |delta_b - 1| = [1, 1.5, 0, 0.2] >= 1 for two replicates: p = (2 + 1) / (4 + 1)
    assert bootstrap_p_value([0.0, 2.5, 1.0, 1.2], observed=1.0) == pytest.approx(0.6)
    assert bootstrap_p_value([0.3, -0.2], observed=0.0) == 1.0
    # 0, 1, ..., 100: the 5% and 95% quantiles are 5 and 95
    assert percentile_ci(np.arange(101.0), confidence=0.90) == pytest.approx((5.0, 95.0))


# ----------------------------------------------------------------------------------------------------------
# Two-level bootstrap over seeds
# ----------------------------------------------------------------------------------------------------------


def test_hierarchical_bootstrap_with_one_seed_equals_plain_bootstrap() -> None:
    rng = np.random.default_rng(6)
    tasks = [sts_like_task(rng, f"task{i}", 100, 0.9, 1.2) for i in range(2)]
    plain = paired_bootstrap_sts(tasks, n_resamples=700, seed=5)
    seeds_tasks = [StsSeedsTask(t.name, t.gold, t.pred_a[None, :], t.pred_b[None, :]) for t in tasks]
    hierarchical = hierarchical_bootstrap_sts(seeds_tasks, n_resamples=700, seed=5)
    assert hierarchical.per_task == plain.per_task
    assert hierarchical.average == plain.average


def test_hierarchical_bootstrap_widens_interval_when_seeds_disagree() -> None:
    rng = np.random.default_rng(7)
    tasks = []
    for i in range(2):
        gold = rng.uniform(0.0, 5.0, 200)
        preds_a = np.stack([gold + rng.normal(0.0, noise, 200) for noise in (0.4, 2.0, 5.0)])
        tasks.append(StsSeedsTask(f"task{i}", gold, preds_a, gold + rng.normal(0.0, 1.5, 200)))

    two_level = hierarchical_bootstrap_sts(tasks, n_resamples=1000, seed=0)
    items_only = hierarchical_bootstrap_sts(tasks, n_resamples=1000, seed=0, resample_seeds=False)
    single_seed = paired_bootstrap_sts(
        [StsTask(t.name, t.gold, t.preds_a[0], t.preds_b[0]) for t in tasks], n_resamples=1000, seed=0
    )

    def width(result: PairedBootstrapResult) -> float:
        return result.average.ci_high - result.average.ci_low

    assert width(two_level) > 2 * width(items_only)
    assert width(two_level) > 2 * width(single_seed)
    expected_a = np.mean([100 * stats.spearmanr(tasks[0].gold, p).statistic for p in tasks[0].preds_a])
    assert two_level.per_task[0].score_a == pytest.approx(expected_a)
    assert two_level.average.delta == items_only.average.delta
    assert (two_level.n_seeds_a, two_level.n_seeds_b) == (3, 1)


def test_mean_sd() -> None:
    mean, sd, n = mean_sd([1.0, 2.0, 3.0, 4.0])
    assert (mean, n) == (2.5, 4)
    assert sd == pytest.approx(math.sqrt((1.5**2 + 0.5**2 + 0.5**2 + 1.5**2) / 3))
    assert tuple(mean_sd([7.0])) == (7.0, 0.0, 1)


# ----------------------------------------------------------------------------------------------------------
# Williams' t and Steiger's Z
# ----------------------------------------------------------------------------------------------------------


def test_williams_t_matches_published_example_howell() -> None:
    # Howell, Statistical Methods for Psychology (6th ed., p. 262): r12 = .80, r13 = .72, r23 = .89, n = 26.
    # Printed result (B. Weaver's SPSS program Williams1959.sps, 2012, on the MRC CBU statistics wiki):
    # t = 1.361, df = 23, p = .187.
    result = williams_t(0.80, 0.72, 0.89, 26)
    assert result.df == 23
    assert round(result.statistic, 3) == 1.361
    assert round(result.p_value, 3) == 0.187


def test_williams_t_matches_published_example_brucer() -> None:
    # bruceR::cor_diff documentation: cor_diff(r1 = 0.20, r2 = 0.45, n = 100, rcov = 0.80)
    # prints "t(97) = -4.56, p = 1e-05"; r1 = r(X,Y), r2 = r(X,Z), rcov = r(Y,Z).
    result = williams_t(0.20, 0.45, 0.80, 100)
    assert result.df == 97
    assert round(result.statistic, 2) == -4.56
    assert f"{result.p_value:.0e}" == "1e-05"


def test_dependent_correlation_tests_identities() -> None:
    for test in (williams_t, steiger_z):
        equal = test(0.6, 0.6, 0.3, 50)
        assert (equal.statistic, equal.p_value) == (0.0, 1.0)
        forward, swapped = test(0.7, 0.5, 0.4, 80), test(0.5, 0.7, 0.4, 80)
        assert swapped.statistic == pytest.approx(-forward.statistic)
        assert swapped.p_value == pytest.approx(forward.p_value)
        # a larger difference, or more items, is more significant
        assert test(0.7, 0.4, 0.4, 80).p_value < forward.p_value
        assert test(0.7, 0.5, 0.4, 300).p_value < forward.p_value


def test_williams_and_steiger_agree_for_large_samples() -> None:
    # Both are asymptotically N(0, 1) tests of the same hypothesis; for a small difference and large n
    # they must nearly coincide.
    williams = williams_t(0.50, 0.48, 0.70, 100_000)
    steiger = steiger_z(0.50, 0.48, 0.70, 100_000)
    assert steiger.statistic == pytest.approx(williams.statistic, rel=0.01)


def test_steiger_covariance_matches_monte_carlo() -> None:
    # Steiger's Z divides by sqrt(2 - 2 s), s = corr(z12, z13). Check s (eq. 3 at rbar) by simulation.
    rho, r_a_b, n = 0.5, 0.6, 300
    data = trivariate_normal(np.random.default_rng(8), n, rho, rho, r_a_b, 4000)
    z12 = np.arctanh(row_pearson(data[..., 0], data[..., 1]))
    z13 = np.arctanh(row_pearson(data[..., 0], data[..., 2]))
    empirical = np.corrcoef(z12, z13)[0, 1]
    # Z = (z12 - z13) sqrt(n - 3) / sqrt(2 - 2 s)  =>  s = 1 - ((z12 - z13) sqrt(n - 3) / Z)^2 / 2
    probe = steiger_z(rho + 0.01, rho - 0.01, r_a_b, n)
    diff = (math.atanh(rho + 0.01) - math.atanh(rho - 0.01)) * math.sqrt(n - 3)
    s_used = 1.0 - (diff / probe.statistic) ** 2 / 2.0
    assert s_used == pytest.approx(empirical, abs=0.04)


def test_williams_and_steiger_are_calibrated_under_null() -> None:
    # Equal true correlations with gold; Pearson version (the tests' own assumptions hold).
    datasets = trivariate_normal(np.random.default_rng(9), 100, 0.5, 0.5, 0.6, 400)
    williams_p, steiger_p = [], []
    for data in datasets:
        result = compare_dependent_correlations(data[:, 0], data[:, 1], data[:, 2], method="pearson")
        williams_p.append(result.williams.p_value)
        steiger_p.append(result.steiger.p_value)
    assert 0.03 <= np.mean(np.array(williams_p) < 0.05) <= 0.08
    assert 0.03 <= np.mean(np.array(steiger_p) < 0.05) <= 0.08
    # roughly uniform p-values: Kolmogorov-Smirnov against U(0, 1)
    assert stats.kstest(williams_p, "uniform").pvalue > 0.01


def test_compare_dependent_correlations_spearman_uses_ranks() -> None:
    rng = np.random.default_rng(10)
    gold = rng.uniform(0, 5, 150)
    pred_a, pred_b = gold + rng.normal(0, 1, 150), gold + rng.normal(0, 2, 150)
    result = compare_dependent_correlations(gold, pred_a, pred_b)
    assert result.r_gold_a == pytest.approx(stats.spearmanr(gold, pred_a).statistic)
    assert result.r_gold_b == pytest.approx(stats.spearmanr(gold, pred_b).statistic)
    assert result.r_a_b == pytest.approx(stats.spearmanr(pred_a, pred_b).statistic)
    monotone = compare_dependent_correlations(gold, np.exp(pred_a), pred_b**3)
    assert monotone.williams.statistic == pytest.approx(result.williams.statistic)
    assert monotone.steiger.p_value == pytest.approx(result.steiger.p_value)
    assert result.williams.p_value < 0.05 and result.r_gold_a > result.r_gold_b


# ----------------------------------------------------------------------------------------------------------
# Generation tasks: accuracy bootstrap, McNemar, continuous values
# ----------------------------------------------------------------------------------------------------------


def paired_correctness(only_a: int, only_b: int, both: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither)
    return a, b


def test_mcnemar_exact_by_hand() -> None:
    a, b = paired_correctness(only_a=10, only_b=2, both=30, neither=8)
    result = mcnemar_exact(a, b)
    # two-sided exact binomial: 2 * P(X <= 2), X ~ Bin(12, 1/2)
    expected = 2 * sum(math.comb(12, k) for k in range(3)) / 2**12
    assert expected == pytest.approx(0.0386, abs=1e-4)
    assert result.p_value == pytest.approx(expected, rel=1e-12)
    assert (result.only_a_correct, result.only_b_correct) == (10, 2)
    assert result.accuracy_a == pytest.approx(40 / 50)
    assert mcnemar_exact(*paired_correctness(0, 0, 5, 5)).p_value == 1.0
    assert mcnemar_exact(*paired_correctness(3, 3, 5, 5)).p_value == 1.0


def test_accuracy_bootstrap() -> None:
    rng = np.random.default_rng(11)
    tasks = []
    for i, n in enumerate([400, 250]):
        correct_b = (rng.uniform(size=n) < 0.5).astype(float)
        correct_a = np.where(rng.uniform(size=n) < 0.3, 1.0, correct_b)  # A fixes ~30% of B's errors
        tasks.append(PairedValuesTask(f"gen{i}", correct_a, correct_b))
    result = paired_bootstrap_accuracy(tasks, n_resamples=2000)
    for task, comparison in zip(tasks, result.per_task, strict=True):
        assert comparison.delta == pytest.approx(100 * (task.values_a.mean() - task.values_b.mean()))
        assert comparison.ci_low > 0.0 and comparison.p_value < 0.01
        assert mcnemar_exact(task.values_a, task.values_b).p_value < 0.01
    assert result.metric == "accuracy_x100"
    same = paired_bootstrap_accuracy([PairedValuesTask("g", tasks[0].values_a, tasks[0].values_a)], 300)
    assert (same.average.delta, same.average.ci_low, same.average.ci_high, same.average.p_value) == (
        0.0,
        0.0,
        0.0,
        1.0,
    )


def test_means_bootstrap_interval_matches_normal_theory() -> None:
    # For a mean of n paired differences the bootstrap SE approaches sd(d) / sqrt(n) (CLT).
    rng = np.random.default_rng(12)
    n = 2000
    values_b = rng.normal(-2.0, 1.0, n)
    values_a = values_b + rng.normal(0.1, 0.8, n)
    result = paired_bootstrap_means([PairedValuesTask("loglik", values_a, values_b)], n_resamples=4000)
    differences = values_a - values_b
    half_width = stats.norm.ppf(0.975) * differences.std(ddof=1) / math.sqrt(n)
    comparison = result.average
    assert comparison.delta == pytest.approx(differences.mean())
    assert (comparison.ci_high - comparison.ci_low) / 2 == pytest.approx(half_width, rel=0.1)
    assert (comparison.ci_low + comparison.ci_high) / 2 == pytest.approx(
        differences.mean(), abs=0.2 * half_width
    )


# ----------------------------------------------------------------------------------------------------------
# Holm
# ----------------------------------------------------------------------------------------------------------


def test_holm_textbook_example() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([0.02]) == [0.02]
    assert holm([]) == []


# ----------------------------------------------------------------------------------------------------------
# Invalid input
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "pred_a", "pred_b", "message"),
    [
        ([1.0, 2.0], [1.0, 2.0], [2.0, 1.0], "at least 3 items"),
        ([3.0, 3.0, 3.0, 3.0], [1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], "gold is constant"),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0], [4.0, 3.0, 2.0, 1.0], "length mismatch"),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, np.nan, 4.0], [4.0, 3.0, 2.0, 1.0], "NaN"),
        ([1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5], [4.0, 3.0, 2.0, 1.0], "pred_a is constant"),
    ],
)
def test_invalid_sts_input_raises(gold: list, pred_a: list, pred_b: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StsTask("bad", np.array(gold), np.array(pred_a), np.array(pred_b))
    with pytest.raises(ValueError, match=message):
        compare_dependent_correlations(gold, pred_a, pred_b)


def test_invalid_arguments_raise() -> None:
    rng = np.random.default_rng(13)
    task = sts_like_task(rng, "t", 30, 1.0, 1.0)
    with pytest.raises(ValueError, match="no tasks"):
        paired_bootstrap_sts([])
    with pytest.raises(ValueError, match="unique"):
        paired_bootstrap_sts([task, task], n_resamples=10)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap_sts([task], confidence=95)
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap_sts([task], n_resamples=0)
    with pytest.raises(ValueError, match="same seeds"):
        hierarchical_bootstrap_sts(
            [
                StsSeedsTask("a", task.gold, np.stack([task.pred_a, task.pred_b]), task.pred_b),
                StsSeedsTask("b", task.gold, task.pred_a, task.pred_b),
            ],
            n_resamples=10,
        )
    with pytest.raises(ValueError, match="only 0 and 1"):
        paired_bootstrap_accuracy([PairedValuesTask("g", [1.0, 0.5, 0.0], [1.0, 1.0, 0.0])])
    with pytest.raises(ValueError, match="length mismatch"):
        mcnemar_exact([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="more than 3 items"):
        williams_t(0.5, 0.4, 0.3, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])
    with pytest.raises(ValueError, match="at least one value"):
        mean_sd([])
