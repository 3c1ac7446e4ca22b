"""Figures from comparison tables (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.atomic import atomic_write


def short_labels(labels: list[str]) -> list[str]:
    """Method names without their settings (``sempa[beta=0.2] (first 400)`` -> ``sempa``) where that
    keeps the labels distinct; the full labels otherwise."""
    short = [label.split("[")[0].split(" (")[0] for label in labels]
    return short if len(set(short)) == len(short) else labels


def plot_tradeoff(
    frame: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    path: Path,
    intervals: dict[tuple[str, str], tuple[float, float]] | None = None,
) -> Path:
    """Scatter of ``x`` against ``y``, one labelled point per row (rows missing either are left out);
    ``intervals``: (row, column) -> (below, above) error-bar offsets, e.g. a 95% CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = frame[[x, y]].dropna()
    intervals = intervals or {}

    def bars(column: str) -> list[list[float]]:
        offsets = [intervals.get((str(row), column), (0.0, 0.0)) for row in points.index]
        return [[low for low, _ in offsets], [high for _, high in offsets]]

    xerr, yerr = bars(x), bars(y)
    points.index = short_labels([str(label) for label in points.index])
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.errorbar(
        points[x], points[y], xerr=xerr, yerr=yerr, fmt="o", color="tab:blue", ecolor="0.6", capsize=3
    )
    for label, row in points.iterrows():
        ax.annotate(str(label), (row[x], row[y]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=150))
    plt.close(fig)
    return path
