"""Benchmark: time of the paired statistics on a full 7-task STS table, measured in one run.

The seven STS test sets at their real sizes (STS12 3,108 ... SICK-R 4,927 pairs; gold on the 0-5 grid
with ties), two methods with noisy predictions; prints the wall time of the paired bootstrap
(10,000 resamples, exact per-resample Spearman), of the same with 3 seeds for A (hierarchical), and of
Williams/Steiger for all tasks, and the time per resample of the exact engine against
``scipy.stats.rankdata`` + Pearson on the same resamples (the reference it is tested against).

    .venv/bin/python benchmarks/statistics.py [--resamples 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from bench.core import statistics as st

SIZES = {
    "STS12": 3108,
    "STS13": 1500,
    "STS14": 3750,
    "STS15": 3000,
    "STS16": 1186,
    "STS-B": 1379,
    "SICK-R": 4927,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tasks, seeded = [], []
    for name, n in SIZES.items():
        gold = np.round(rng.uniform(0, 5, n) * 5) / 5
        a = gold + rng.normal(0, 1.2, (3, n))
        b = gold + rng.normal(0, 1.3, n)
        tasks.append(st.StsTask(name, gold, a[0], b))
        seeded.append(st.StsSeedsTask(name, gold, a, b[None, :]))

    start = time.perf_counter()
    result = st.paired_bootstrap_sts(tasks, n_resamples=args.resamples)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    st.hierarchical_bootstrap_sts(seeded, n_resamples=args.resamples)
    hierarchical = time.perf_counter() - start
    start = time.perf_counter()
    for task in tasks:
        st.compare_dependent_correlations(task.gold, task.pred_a, task.pred_b)
    dependent = time.perf_counter() - start

    task = tasks[0]  # exact engine vs scipy rankdata on the same 200 resamples of STS12
    idx = rng.integers(0, task.n_items, size=(200, task.n_items))
    start = time.perf_counter()
    st.spearman_resamples(task.gold, task.pred_a, task.pred_b, idx)
    engine = (time.perf_counter() - start) / len(idx)
    start = time.perf_counter()
    for row in idx:
        g = stats.rankdata(task.gold[row])
        np.corrcoef(g, stats.rankdata(task.pred_a[row]))
        np.corrcoef(g, stats.rankdata(task.pred_b[row]))
    reference = (time.perf_counter() - start) / len(idx)

    pairs = sum(SIZES.values())
    print(f"7 STS tasks, {pairs:,} pairs, {args.resamples:,} resamples")
    print(f"paired bootstrap (1 seed each):      {plain:6.1f} s  (avg delta {result.average.delta:+.2f}, "
          f"95% CI [{result.average.ci_low:+.2f}, {result.average.ci_high:+.2f}])")  # fmt: skip
    print(f"hierarchical bootstrap (3 seeds A):  {hierarchical:6.1f} s")
    print(f"Williams + Steiger, 7 tasks:         {dependent * 1000:6.1f} ms")
    print(f"per resample on STS12: engine {engine * 1000:.2f} ms, "
          f"rankdata reference {reference * 1000:.2f} ms, ratio {reference / engine:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
