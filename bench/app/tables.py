"""Comparison tables from stored results: rows = methods, columns = tasks (+ average).

Written as CSV, LaTeX (booktabs, best per column in bold) and Markdown, and printed with rich.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from bench.app.records import BASE_ROW, ResultRecord, records_frame
from bench.core.atomic import atomic_write_text
from bench.core.progress import data_console
from bench.core.suite import SUITES, Suite


@dataclass
class ComparisonTable:
    model: str
    suite: str
    frame: pd.DataFrame  # index = row labels, columns = task labels (+ average)
    notes: list[str]
    lower_is_better: frozenset[str] = frozenset()  # columns where the smallest value is best
    row_methods: dict[str, tuple[str, str]] = field(default_factory=dict)  # row -> (name, label)

    @property
    def stem(self) -> str:
        return f"{self.model}-{self.suite}"


def _limited(limit: Any) -> bool:
    return not pd.isna(limit) and bool(limit)


def row_label(label: str, limit: int | None, suite: Suite | None = None) -> str:
    if suite is not None and suite.limit_per_task:
        return label  # the limit is shown in the column instead
    return f"{label} (first {limit})" if _limited(limit) else label


def column_label(task: str, limit: int | None, suite: Suite | None) -> str:
    if suite is None:
        return task
    label = suite.column_label(task)
    if suite.limit_per_task:
        return f"{label} ({limit})" if _limited(limit) else f"{label} (all)"
    return label


def build_tables(
    records: Iterable[ResultRecord], method_order: Sequence[str] | None = None
) -> list[ComparisonTable]:
    """One table per (model, suite) found in ``records``, plus an STS + gen table per model with both."""
    frame = records_frame(list(records))
    if frame.empty:
        return []
    own, shared = frame[~frame["shared"]], frame[frame["shared"]]
    if own.empty:  # only model-independent methods (e.g. sbert): one table of their own
        own, shared = shared, shared.iloc[0:0]
    tables = []
    for (_, suite_name), rows in own.groupby(["model", "suite"], sort=True):
        name = str(rows["model_name"].mode().iloc[0])  # the display name most of its results carry
        rows = pd.concat([rows, shared[shared["suite"] == suite_name]])
        tables.append(_suite_table(name, str(suite_name), rows, method_order))
    return tables + combined_tables(tables)


def _suite_table(
    model: str, suite_name: str, rows: pd.DataFrame, method_order: Sequence[str] | None
) -> ComparisonTable:
    suite = SUITES.get(suite_name) if suite_name in SUITES else None
    order = list(method_order or [])
    rows = rows.assign(
        row=[
            row_label(label, limit, suite) for label, limit in zip(rows["label"], rows["limit"], strict=True)
        ],
        column=[column_label(t, limit, suite) for t, limit in zip(rows["task"], rows["limit"], strict=True)],
    ).drop_duplicates(["row", "column"], keep="last")
    task_of = dict(zip(rows["column"], rows["task"], strict=True))
    row_methods = {
        row: (name, label)
        for row, name, label in zip(rows["row"], rows["method"], rows["label"], strict=True)
    }
    order_key = {
        row: (order.index(name) if name in order else 10**6, row) for row, (name, _) in row_methods.items()
    }
    task_rank = {t: i for i, t in enumerate(suite.task_names())} if suite else {}
    columns = sorted(task_of, key=lambda c: (task_rank.get(task_of[c], 10**6), task_of[c], c))
    frame = rows.pivot(index="row", columns="column", values="score").reindex(columns=columns)
    frame.columns.name = None
    frame = frame.loc[sorted(frame.index, key=lambda label: order_key[label])]
    lower = frozenset(c for c in columns if suite and not suite.higher_is_better(task_of[c]))
    notes = [f"{suite_name} on {model}: main metric x 100"]
    average = suite.average_label() if suite else None
    averaged = [c for c in columns if c not in lower]
    if average and len(averaged) > 1:
        complete = frame[averaged].notna().all(axis=1)
        frame[average] = frame[averaged].mean(axis=1).where(complete)
        if lower:
            notes.append(f"{average} leaves out {', '.join(sorted(lower))} (lower is better)")
        if not complete.all():
            notes.append(f"{average} is left empty for rows missing a task")
        if suite is not None and suite.scores_causal_lm and BASE_ROW in frame.index:
            frame[DELTA] = frame[average] - frame.loc[BASE_ROW, average]
            notes.append(f"{DELTA}: {average} minus the base model's (training-free methods leave the base)")
    if suite is not None and suite.limit_per_task:
        notes.append("'(N)' in a column: only the first N examples of that task were scored")
    elif any(_limited(limit) for limit in rows["limit"]):
        notes.append("'(first N)': only the first N examples of each task were scored")
    frame.index.name = "method"
    return ComparisonTable(model, suite_name, frame, notes, lower, row_methods)


DELTA = "Δ vs base"
STS_AVG, GEN_AVG = "STS avg", "Gen avg"


def combined_tables(tables: list[ComparisonTable]) -> list[ComparisonTable]:
    """Per model with both an ``sts`` and a ``gen`` table: STS average beside generation average.

    A training-free method's generation scores are the base model's; a trained method's are its own.
    """
    from bench.core.method import METHODS

    by_key = {(t.model, t.suite): t for t in tables}
    out = []
    for (model, suite), sts in by_key.items():
        gen = by_key.get((model, "gen"))
        if suite != "sts" or gen is None or "Avg" not in sts.frame or GEN_AVG not in gen.frame:
            continue
        rows = {}
        for label, (name, method_label) in sts.row_methods.items():
            cls = METHODS.get(name) if name in METHODS else None
            gen_row = BASE_ROW if cls is not None and cls.uses_llm and not cls.trains else method_label
            gen_avg = gen.frame[GEN_AVG].get(gen_row, float("nan"))
            rows[label] = {STS_AVG: sts.frame.loc[label, "Avg"], GEN_AVG: gen_avg}
        frame = pd.DataFrame.from_dict(rows, orient="index").reindex(sts.frame.index)
        if BASE_ROW in gen.frame.index:
            frame[DELTA] = frame[GEN_AVG] - gen.frame.loc[BASE_ROW, GEN_AVG]
        frame.index.name = "method"
        notes = [
            f"STS and generation on {model}: STS Avg (Spearman x 100) and gen Avg (accuracy x 100)",
            "training-free methods leave the model unchanged: their generation scores are the base model's",
            *[n for n in sts.notes[1:] + gen.notes[1:] if "Δ" not in n],
        ]
        out.append(ComparisonTable(model, "sts+gen", frame, notes))
    return out


def to_latex(table: ComparisonTable) -> str:
    frame = table.frame
    styler = frame.style.format("{:.2f}", na_rep="--").format_index(escape="latex", axis=0)
    styler = styler.format_index(escape="latex", axis=1)
    if len(frame) > 1:
        higher = [c for c in frame.columns if c not in table.lower_is_better]
        lower = [c for c in frame.columns if c in table.lower_is_better]
        styler = styler.highlight_max(axis=0, subset=higher, props="textbf:--rwrap;")
        if lower:
            styler = styler.highlight_min(axis=0, subset=lower, props="textbf:--rwrap;")
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
    if table.suite == "sts+gen":
        from bench.app.plots import plot_tradeoff

        title = f"{table.model}: embedding quality vs generation (one point per method)"
        paths.append(
            plot_tradeoff(table.frame, STS_AVG, GEN_AVG, title, folder / f"{table.stem}-tradeoff.png")
        )
    return paths


def print_table(table: ComparisonTable) -> None:
    view = Table(title=table.notes[0], title_justify="left")
    view.add_column("method", style="bold")
    for column in table.frame.columns:
        view.add_column(str(column), justify="right")
    best = {
        c: (table.frame[c].min() if c in table.lower_is_better else table.frame[c].max())
        for c in table.frame.columns
    }
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
    data_console.print(view)
    for note in table.notes[1:]:
        data_console.print(f"[dim]{note}[/dim]")
