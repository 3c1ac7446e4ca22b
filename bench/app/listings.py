"""Listings on stdout: a run's plan (``bench run --dry-run``) and the stored results (``bench results``)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from bench.app.records import ResultRecord
from bench.app.runner import PlannedStep
from bench.app.store import ResultStore
from bench.core.progress import data_console


def _seconds_per_example(records: Sequence[ResultRecord]) -> float | None:
    rates = [
        r.timing["seconds"] / r.n_examples
        for r in records
        if r.n_examples and isinstance(r.timing.get("seconds"), (int, float))
    ]
    return statistics.median(rates) if rates else None


def estimate_seconds(
    step: PlannedStep, stored: Sequence[ResultRecord], data_dir: Path | None
) -> float | None:
    """Time to compute a step, from stored results: the same method's median seconds per example on
    this model and suite, else any method's; None when nothing comparable is stored."""
    same_suite = [r for r in stored if r.model_namespace == step.key.model and r.suite == step.suite.name]
    rate = _seconds_per_example([r for r in same_suite if r.method.name == step.key.method])
    rate = rate if rate is not None else _seconds_per_example(same_suite)
    if rate is None:
        return None
    examples = step.key.limit
    if examples is None:
        size = step.suite.task_size(step.task, data_dir) if data_dir is not None else None
        return rate * size if size else None
    return rate * examples


def print_plan(steps: Sequence[PlannedStep], store: ResultStore, data_dir: Path | None) -> None:
    """What a run would do: every result it covers, stored or to compute, with estimated times."""
    stored = list(store.records())
    view = Table(title="plan (nothing computed: --dry-run)", title_justify="left")
    for column in ("#", "row", "seed", "suite", "task", "limit", "status", "estimate"):
        view.add_column(column, justify="right" if column in ("#", "seed", "limit", "estimate") else "left")
    total, unknown, trains = 0.0, 0, set()
    for number, step in enumerate(steps, start=1):
        estimate = "-"
        if not step.stored:
            seconds = estimate_seconds(step, stored, data_dir)
            if seconds is None:
                unknown += 1
                estimate = "?"
            else:
                total += seconds
                estimate = f"{seconds / 60:.1f} min"
            if step.cls.trains:
                trains.add((step.cls.name, step.seed))
        view.add_row(
            str(number), escape(step.label), str(step.key.seed if step.key.seed is not None else "-"),
            step.suite.name, step.task, str(step.key.limit or "all"),
            "once (shared)" if step.repeat else "stored" if step.stored else "compute", estimate,
        )  # fmt: skip
    data_console.print(view)
    to_compute = sum(not s.stored for s in steps)
    summary = f"{len(steps)} results: {len(steps) - to_compute} stored, {to_compute} to compute"
    if to_compute and unknown == to_compute:
        summary += "; no stored timings to estimate from (run something on this model first)"
    elif to_compute:
        summary += f"; about {total / 60:.0f} min estimated from stored timings"
        if unknown:
            summary += f" ({unknown} without a comparable stored result)"
        if trains:
            summary += f"; plus training (or a cached adapter) for {len(trains)} method x seed"
    data_console.print(summary)


def print_results(records: Sequence[ResultRecord]) -> None:
    """Every stored result, one row each."""
    view = Table(title=f"{len(records)} stored results", title_justify="left")
    for column in ("model", "suite", "row", "seed", "task", "limit", "score", "seconds", "file"):
        view.add_column(
            column, justify="right" if column in ("seed", "limit", "score", "seconds") else "left"
        )
    for r in records:
        seconds = r.timing.get("seconds")
        view.add_row(
            escape(r.model_slug), r.suite, escape(r.method.label),
            str(r.seed) if r.method.training else "-", r.task, str(r.limit or "all"),
            f"{r.main_score:.2f}", f"{seconds:.0f}" if isinstance(seconds, (int, float)) else "-",
            escape(str(r.path or "")),
        )  # fmt: skip
    data_console.print(view)
