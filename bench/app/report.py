"""The full paired report of ``bench compare``: per task and on average, every test that applies."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from bench.app.compare import RowComparison
from bench.core.progress import data_console


def _p(value: float) -> str:
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"


def print_comparison(comparison: RowComparison) -> None:
    """Print A vs B (scores, difference, 95% CI, bootstrap p and the per-task tests) on stdout."""
    result = comparison.result
    title = (
        f"{comparison.label_a} (A) vs {comparison.label_b} (B): {result.metric}; "
        f"seeds A {result.n_seeds_a}, B {result.n_seeds_b}"
    )
    view = Table(title=escape(title), title_justify="left")
    columns = ["task", "n", "A", "B", "Δ (A-B)", "95% CI", "p (bootstrap)"]
    if comparison.dependent:
        columns += ["Williams t (p)", "Steiger Z (p)"]
    if comparison.mcnemar:
        columns += ["McNemar A-only/B-only (p)"]
    for column in columns:
        view.add_column(column, justify="left" if column == "task" else "right")
    for compared in (*result.per_task, result.average):
        cells = [
            compared.name,
            str(compared.n_items),
            f"{compared.score_a:.2f}",
            f"{compared.score_b:.2f}",
            f"{compared.delta:+.2f}",
            f"[{compared.ci_low:+.2f}, {compared.ci_high:+.2f}]",
            _p(compared.p_value),
        ]
        if comparison.dependent:
            tests = comparison.dependent.get(compared.name)
            cells += (
                [
                    f"{tests.williams.statistic:+.2f} ({_p(tests.williams.p_value)})",
                    f"{tests.steiger.statistic:+.2f} ({_p(tests.steiger.p_value)})",
                ]
                if tests
                else ["", ""]
            )
        if comparison.mcnemar:
            test = comparison.mcnemar.get(compared.name)
            cells.append(f"{test.only_a_correct}/{test.only_b_correct} ({_p(test.p_value)})" if test else "")
        view.add_row(*[escape(c) for c in cells])
    data_console.print(view)
    note = (
        f"{comparison.test}; average: unweighted mean over tasks of the per-task differences; "
        "p-values are not corrected for multiple comparisons"
    )
    data_console.print(f"[dim]{escape(note)}[/dim]")
