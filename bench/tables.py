"""Comparison tables from stored results: rows = methods, columns = tasks (+ average).

Written as CSV, LaTeX (booktabs, best per column in bold) and Markdown, and printed with rich.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from bench.atomic import atomic_write_text
from bench.progress import console
from suites.base import SUITES


@dataclass
class ComparisonTable:
    model: str
    suite: str
    frame: pd.DataFrame  # index = row labels, columns = task labels (+ average)
    notes: list[str]

    @property
    def stem(self) -> str:
        return f"{self.model}-{self.suite}"


def model_slug(record: dict[str, Any]) -> str:
    """The run's model as a file-name-safe slug (the folder its results are stored under)."""
    model = record["model"]
    if model.get("slug"):
        return model["slug"]
    return Path(model.get("run_model") or model["name"]).name.replace("/", "__")


def row_label(record: dict[str, Any]) -> str:
    label = record["method"]["label"]
    return f"{label} (first {record['limit']})" if record.get("limit") else label


def _column_label(task: str) -> str:
    from suites.sts import COLUMN_LABELS

    return COLUMN_LABELS.get(task, task)


def build_tables(
    records: Iterable[dict[str, Any]], method_order: Sequence[str] | None = None
) -> list[ComparisonTable]:
    """One table per (model, suite) found in ``records``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((model_slug(record), record["suite"]), []).append(record)
    tables = []
    for (model, suite_name), rows in sorted(groups.items()):
        suite = SUITES.get(suite_name) if suite_name in SUITES else None
        tasks = suite.task_names() if suite else sorted({r["task"] for r in rows})
        cells: dict[str, dict[str, float]] = {}
        order_key: dict[str, tuple[int, str]] = {}
        for record in rows:
            label = row_label(record)
            cells.setdefault(label, {})[_column_label(record["task"])] = record["main_score"]
            name = record["method"]["name"]
            rank = list(method_order).index(name) if method_order and name in method_order else 10**6
            order_key[label] = (rank, label)
        columns = [_column_label(t) for t in tasks if any(_column_label(t) in c for c in cells.values())]
        frame = pd.DataFrame.from_dict(cells, orient="index").reindex(columns=columns)
        frame = frame.loc[sorted(frame.index, key=lambda label: order_key[label])]
        average = suite.average_label() if suite else None
        notes = [f"{suite_name} on {model}: main metric x 100"]
        if average and len(columns) > 1:
            complete = frame.notna().all(axis=1)
            frame[average] = frame.mean(axis=1).where(complete)
            if not complete.all():
                notes.append(f"{average} is left empty for rows missing a task")
        if any(r.get("limit") for r in rows):
            notes.append("'(first N)': only the first N examples of each task were scored")
        frame.index.name = "method"
        tables.append(ComparisonTable(model, suite_name, frame, notes))
    return tables


def to_latex(table: ComparisonTable) -> str:
    frame = table.frame
    styler = frame.style.format("{:.2f}", na_rep="--").format_index(escape="latex", axis=0)
    styler = styler.format_index(escape="latex", axis=1)
    if len(frame) > 1:
        styler = styler.highlight_max(axis=0, props="textbf:--rwrap;")
    caption = "; ".join(table.notes).replace("_", r"\_")
    return styler.to_latex(hrules=True, caption=caption, column_format="l" + "r" * len(frame.columns))


def to_markdown(table: ComparisonTable) -> str:
    body = table.frame.to_markdown(floatfmt=".2f")
    return body + "\n\n" + "\n".join(f"- {note}" for note in table.notes) + "\n"


def write_table(table: ComparisonTable, folder: Path) -> list[Path]:
    """Write CSV, LaTeX and Markdown versions; returns their paths."""
    paths = [folder / f"{table.stem}.{ext}" for ext in ("csv", "tex", "md")]
    atomic_write_text(paths[0], table.frame.round(4).to_csv())
    atomic_write_text(paths[1], to_latex(table))
    atomic_write_text(paths[2], to_markdown(table))
    return paths


def print_table(table: ComparisonTable) -> None:
    view = Table(title=table.notes[0], title_justify="left")
    view.add_column("method", style="bold")
    for column in table.frame.columns:
        view.add_column(str(column), justify="right")
    best = table.frame.max(axis=0)
    for label, row in table.frame.iterrows():
        cells = []
        for column, value in row.items():
            if pd.isna(value):
                cells.append("--")
            elif len(table.frame) > 1 and value == best[column]:
                cells.append(f"[bold green]{value:.2f}[/bold green]")
            else:
                cells.append(f"{value:.2f}")
        view.add_row(escape(str(label)), *cells)
    console.print(view)
    for note in table.notes[1:]:
        console.print(f"[dim]{note}[/dim]")
