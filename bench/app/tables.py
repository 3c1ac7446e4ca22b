"""Comparison tables from stored results: rows = methods, columns = tasks (+ average).

Written as CSV, LaTeX (booktabs, best per column in bold) and Markdown, and printed with rich.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.markup import escape
from rich.table import Table

from bench.app.compare import Predictions, RowComparison, compare_rows, item_key
from bench.app.records import BASE_ROW, ResultRecord, records_frame
from bench.core.atomic import atomic_write_text
from bench.core.errors import BenchError
from bench.core.method import METHODS
from bench.core.progress import data_console
from bench.core.statistics import DEFAULT_RESAMPLES, PairedComparison, holm
from bench.core.suite import SUITES, Suite


@dataclass
class ComparisonTable:
    model: str
    suite: str
    frame: pd.DataFrame  # index = row labels, columns = task labels (+ average); mean over seeds
    notes: list[str]
    lower_is_better: frozenset[str] = frozenset()  # columns where the smallest value is best
    row_methods: dict[str, tuple[str, str]] = field(default_factory=dict)  # row -> (name, label)
    limit: int | None = None  # suites with one limit for every task: the first N examples of each
    sd: pd.DataFrame | None = None  # sample sd over seeds per cell (NaN: one seed)
    n_seeds: pd.DataFrame | None = None  # seeds per cell
    column_tasks: dict[str, str] = field(default_factory=dict)  # column label -> task
    column_items: dict[str, str] = field(default_factory=dict)  # column label -> compared item key
    row_records: dict[str, list[ResultRecord]] = field(default_factory=dict)
    baseline: str | None = None  # row every other row is compared with
    comparisons: dict[str, RowComparison] = field(default_factory=dict)  # row -> vs the baseline
    p_holm: dict[tuple[str, str], float] = field(default_factory=dict)  # (row, column) -> adjusted p
    average_compared: set[str] = field(default_factory=set)  # rows whose average difference is valid
    # (row, column) -> 95% CI of the difference to the baseline, as offsets (below, above) of the value
    intervals: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return f"{self.model}-{self.suite}" + (f"-first{self.limit}" if self.limit else "")

    def comparison(self, row: str, column: str) -> PairedComparison | None:
        """The paired comparison of a cell with the baseline's cell (None: none was made)."""
        compared = self.comparisons.get(row)
        if compared is None:
            return None
        if column == self.average_column:
            return compared.result.average if row in self.average_compared else None
        item = self.column_items.get(column)
        return next((c for c in compared.result.per_task if c.name == item), None)

    @property
    def average_column(self) -> str | None:
        return next((c for c in self.frame.columns if c in AVERAGE_COLUMNS), None)


def _limited(limit: Any) -> bool:
    return not pd.isna(limit) and bool(limit)


def column_label(task: str, limit: int | None, suite: Suite | None) -> str:
    if suite is None:
        return task
    label = suite.column_label(task)
    if suite.limit_per_task:
        return f"{label} ({limit})" if _limited(limit) else f"{label} (all)"
    return label


def build_tables(
    records: Iterable[ResultRecord],
    method_order: Sequence[str] | None = None,
    baseline: str | None = None,
    predictions: Predictions | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[ComparisonTable]:
    """One table per (model, suite, limit) found in ``records``, plus an STS + gen table per model with
    both. With ``baseline`` (a row label or method name) and ``predictions`` (reads a record's stored
    per-item predictions), every other row is compared with it (paired bootstrap, Holm-adjusted)."""
    records = list(records)
    frame = records_frame(records)
    if frame.empty:
        return []
    frame = frame.assign(record=records, label=one_label_per_config(frame))
    own, shared = frame[~frame["shared"]], frame[frame["shared"]]
    if own.empty:  # only model-independent methods (e.g. sbert): one table of their own
        own, shared = shared, shared.iloc[0:0]
    names = {  # namespace -> the display name most of its results carry
        namespace: str(part["model_name"].mode().iloc[0]) for namespace, part in own.groupby("model")
    }
    clashing = {n for n in names.values() if list(names.values()).count(n) > 1}
    tables = []
    for (namespace, suite_name), rows in own.groupby(["model", "suite"], sort=True):
        name = names[namespace]
        if name in clashing:  # e.g. results of an earlier version (stored by name) beside new ones
            name = f"{name}@{namespace}"
        rows = pd.concat([rows, shared[shared["suite"] == suite_name]])
        suite = SUITES.get(str(suite_name)) if suite_name in SUITES else None
        per_task_limits = suite is None or suite.limit_per_task
        limits = rows["limit"].fillna(0) if not per_task_limits else pd.Series(0, index=rows.index)
        for limit, part in rows.groupby(limits, sort=True):
            table = _suite_table(name, str(suite_name), part, method_order, int(limit) or None)
            if baseline is not None and predictions is not None and (suite is None or suite.paired):
                _compare_with_baseline(table, baseline, predictions, n_resamples, seed)
            tables.append(table)
    return tables + combined_tables(tables)


def _suite_table(
    model: str,
    suite_name: str,
    rows: pd.DataFrame,
    method_order: Sequence[str] | None,
    limit: int | None,
) -> ComparisonTable:
    suite = SUITES.get(suite_name) if suite_name in SUITES else None
    order = list(method_order or [])
    rows = rows.assign(
        row=rows["label"],
        column=[column_label(t, lim, suite) for t, lim in zip(rows["task"], rows["limit"], strict=True)],
    ).drop_duplicates(["row", "column", "seed"], keep="last")
    task_of = dict(zip(rows["column"], rows["task"], strict=True))
    item_of = {
        c: item_key(t, None if pd.isna(n) else int(n))
        for c, t, n in rows[["column", "task", "limit"]].itertuples(index=False)
    }
    row_methods = {
        row: (name, label)
        for row, name, label in zip(rows["row"], rows["method"], rows["label"], strict=True)
    }
    order_key = {
        row: (order.index(name) if name in order else 10**6, row) for row, (name, _) in row_methods.items()
    }
    task_rank = {t: i for i, t in enumerate(suite.task_names())} if suite else {}
    columns = sorted(task_of, key=lambda c: (task_rank.get(task_of[c], 10**6), task_of[c], c))
    index = sorted(row_methods, key=lambda label: order_key[label])

    def cells(how: str) -> pd.DataFrame:
        table = rows.pivot_table(index="row", columns="column", values="score", aggfunc=how, dropna=False)
        table.columns.name = None
        return table.reindex(index=index, columns=columns)

    frame, sd, n_seeds = cells("mean"), cells("std"), cells("count")
    lower = frozenset(c for c in columns if suite and not suite.higher_is_better(task_of[c]))
    notes = [
        f"{SUITE_TITLES.get(suite_name, suite_name)} on {model}: "
        + SUITE_METRICS.get(suite_name, "main metric x 100")
        + (f", first {limit} examples of each task" if limit else "")
    ]
    average = suite.average_label() if suite else None
    averaged = [c for c in columns if c not in lower]
    if average and len(averaged) > 1:
        complete = frame[averaged].notna().all(axis=1)
        frame[average] = frame[averaged].mean(axis=1).where(complete)
        per_seed = rows[rows["column"].isin(averaged)].pivot_table(
            index="row", columns="seed", values="score", aggfunc="mean"
        )
        sd[average] = per_seed.std(axis=1).reindex(index).where(complete)  # sd over seeds of the average
        n_seeds[average] = per_seed.notna().sum(axis=1).reindex(index)
        if lower:
            notes.append(f"{average} leaves out {', '.join(sorted(lower))} (lower is better)")
        if not complete.all():
            notes.append(f"{average} is left empty for rows missing a task")
        if suite is not None and suite.scores_causal_lm and BASE_ROW in frame.index:
            frame[DELTA] = frame[average] - frame.loc[BASE_ROW, average]
            notes.append(f"{DELTA}: {average} minus the base model's (training-free methods leave the base)")
    if suite is not None and suite.limit_per_task:
        notes.append("'(N)' in a column: only the first N examples of that task were scored")
    if (n_seeds.max(axis=None) or 0) > 1:
        notes.append("rows over several seeds: mean ± sd over seeds (n in the long CSV)")
    frame.index.name = "method"
    row_records = {row: list(part["record"]) for row, part in rows.groupby("row")}
    return ComparisonTable(
        model, suite_name, frame, notes, lower, row_methods, limit, sd, n_seeds, task_of, item_of, row_records
    )


def one_label_per_config(frame: pd.DataFrame) -> pd.Series:
    """The row label of each record, the same for every record of one (method, config hash): results of
    one config stored by versions whose defaults differed carry different labels, and would otherwise
    split into two rows. The shortest label wins (the most readable; ties: alphabetical)."""
    chosen = (
        frame.assign(length=frame["label"].str.len())
        .sort_values(["length", "label"])
        .drop_duplicates(["method", "config_hash"])
        .set_index(["method", "config_hash"])["label"]
    )
    keys = zip(frame["method"], frame["config_hash"], strict=True)
    return pd.Series([chosen[key] for key in keys], index=frame.index)


def _leaves_the_model_unchanged(method: str) -> bool:
    return method in METHODS and not METHODS.get(method).trains


def _compare_with_baseline(
    table: ComparisonTable, baseline: str, predictions: Predictions, n_resamples: int, seed: int
) -> None:
    """Fill ``table.comparisons`` (every row vs the baseline row) and Holm-adjusted p-values."""
    rows = [r for r in table.frame.index if r == baseline or table.row_methods[r][0] == baseline]
    if not rows and BASE_ROW in table.frame.index and _leaves_the_model_unchanged(baseline):
        rows = [BASE_ROW]  # a training-free baseline's generation is the unchanged model's
        table.notes.append(f"baseline {baseline!r} leaves the model as it is: compared with {BASE_ROW!r}")
    if not rows:
        table.notes.append(f"baseline {baseline!r} has no row in this table: no comparisons")
        return
    table.baseline = rows[0]
    # only the averaged columns are compared (not lower-is-better ones such as perplexity)
    averaged = [
        c
        for c in table.frame.columns
        if c not in table.lower_is_better and c not in (DELTA, table.average_column)
    ]
    items = {table.column_items[c] for c in averaged if c in table.column_items}

    def compared_records(row: str) -> list[ResultRecord]:
        return [r for r in table.row_records[row] if item_key(r.task, r.limit) in items]

    base_records, failed = compared_records(table.baseline), []
    for row in table.frame.index:
        if row == table.baseline:
            continue
        try:
            compared = compare_rows(compared_records(row), base_records, predictions, n_resamples, seed)
        except BenchError as exc:  # e.g. a result stored before predictions were: no statistics for it
            failed.append(f"{row}: {exc}")
            continue
        table.comparisons[row] = compared
        names = {c.name for c in compared.result.per_task}
        complete = table.average_column and not table.frame[[table.average_column]].loc[
            [row, table.baseline]
        ].isna().any(axis=None)
        if complete and names == items:
            table.average_compared.add(row)
    table.notes += [f"not compared: {message}" for message in failed]
    cells = {
        (row, column): compared
        for row in table.comparisons
        for column in table.frame.columns
        if (compared := table.comparison(row, column)) is not None
    }
    # two families, each Holm-adjusted on its own: the rows' averages (the headline claims), and the
    # per-task cells
    families: dict[bool, list[tuple[str, str]]] = {}
    for cell in cells:
        families.setdefault(cell[1] == table.average_column, []).append(cell)
    for members in families.values():
        adjusted = holm([cells[cell].p_value for cell in members])
        table.p_holm.update(zip(members, adjusted, strict=True))
    if not table.comparisons:
        table.notes.append(f"Δ vs {table.baseline}: no row could be compared (see the notes above)")
        return
    test = next(iter(table.comparisons.values())).test
    sizes = " and ".join(
        f"{len(members)} {'averages' if is_average else 'per-task cells'}"
        for is_average, members in sorted(families.items(), reverse=True)
    )
    table.notes.append(
        f"Δ vs {table.baseline}: difference with its 95% CI ({test}); † p < 0.05 after Holm's correction, "
        f"applied separately to the {sizes}"
    )


def long_frame(table: ComparisonTable) -> pd.DataFrame:
    """The table as tidy rows: one per (row, column) with score, sd, n_seeds and the comparison."""
    out = []
    for row in table.frame.index:
        name, _ = table.row_methods.get(row, (row, row))
        for column in table.frame.columns:
            if column == DELTA:
                continue
            compared = table.comparison(row, column)
            out.append({
                "model": table.model, "suite": table.suite, "method": name, "row": row,
                "config_hash": _config_hash(table, row), "task": table.column_tasks.get(column, column),
                "column": column, "limit": table.limit, "score": table.frame.loc[row, column],
                "sd": _cell(table.sd, row, column), "n_seeds": _cell(table.n_seeds, row, column),
                "baseline": table.baseline if compared else None,
                "delta": compared.delta if compared else None,
                "ci_low": compared.ci_low if compared else None,
                "ci_high": compared.ci_high if compared else None,
                "p": compared.p_value if compared else None,
                "p_holm": table.p_holm.get((row, column)),
            })  # fmt: skip
    return pd.DataFrame(out)


def _config_hash(table: ComparisonTable, row: str) -> str | None:
    records = table.row_records.get(row)
    return records[0].method.config_hash if records else None


def _cell(frame: pd.DataFrame | None, row: str, column: str) -> float | None:
    if frame is None or column not in frame.columns or row not in frame.index:
        return None
    value = frame.loc[row, column]
    return None if pd.isna(value) else float(value)


DELTA = "Δ vs base"
SUITE_TITLES = {"sts": "STS", "sts-dev": "STS-B dev", "gen": "Generation", "geometry": "Embedding geometry"}
SUITE_METRICS = {
    "sts": "Spearman correlation of cosine similarity x 100",
    "sts-dev": "Spearman correlation of cosine similarity x 100",
    "gen": "lm-eval accuracy x 100 (WikiText-2: word perplexity)",
    "geometry": "alignment, uniformity (Wang & Isola 2020) and anisotropy on STS-B dev, lower is better",
}
STS_AVG, GEN_AVG = "STS avg", "Gen avg"
AVERAGE_COLUMNS = ("Avg", GEN_AVG)


def combined_tables(tables: list[ComparisonTable]) -> list[ComparisonTable]:
    """Per model with both an ``sts`` and a ``gen`` table: STS average beside generation average.

    A training-free method's generation scores are the base model's; a trained method's are its own.
    """
    from bench.core.method import METHODS

    gens = {t.model: t for t in tables if t.suite == "gen"}  # model: display name, unique per namespace
    out = []
    for sts in tables:
        model, gen = sts.model, gens.get(sts.model)
        if sts.suite != "sts" or gen is None or "Avg" not in sts.frame or GEN_AVG not in gen.frame:
            continue
        rows, intervals = {}, {}
        for label, (name, method_label) in sts.row_methods.items():
            cls = METHODS.get(name) if name in METHODS else None
            gen_row = BASE_ROW if cls is not None and cls.uses_llm and not cls.trains else method_label
            gen_avg = gen.frame[GEN_AVG].get(gen_row, float("nan"))
            rows[label] = {STS_AVG: sts.frame.loc[label, "Avg"], GEN_AVG: gen_avg}
            for column, source, row in ((STS_AVG, sts, label), (GEN_AVG, gen, gen_row)):
                compared = source.comparison(row, source.average_column or "")
                if compared is not None:
                    intervals[(label, column)] = (
                        compared.delta - compared.ci_low,
                        compared.ci_high - compared.delta,
                    )
        frame = pd.DataFrame.from_dict(rows, orient="index").reindex(sts.frame.index)
        if BASE_ROW in gen.frame.index:
            frame[DELTA] = frame[GEN_AVG] - gen.frame.loc[BASE_ROW, GEN_AVG]
        frame.index.name = "method"
        notes = [
            f"STS and generation on {model}: STS Avg (Spearman x 100) and gen Avg (accuracy x 100)",
            "training-free methods leave the model unchanged: their generation scores are the base model's",
            *[n for n in sts.notes[1:] + gen.notes[1:] if "Δ" not in n],
        ]
        if intervals:
            notes.append("error bars: 95% paired CI of the difference to each suite's baseline row")
        out.append(ComparisonTable(model, "sts+gen", frame, notes, limit=sts.limit, intervals=intervals))
    return out


SIGNIFICANT = 0.05
DAGGER = "†"


def _best(table: ComparisonTable) -> dict[str, float]:
    if len(table.frame) < 2:
        return {}
    return {
        c: (table.frame[c].min() if c in table.lower_is_better else table.frame[c].max())
        for c in table.frame.columns
    }


def _significant(table: ComparisonTable, row: str, column: str) -> bool:
    p_value = table.p_holm.get((row, column))
    return p_value is not None and p_value < SIGNIFICANT


def score_cells(table: ComparisonTable, latex: bool = False) -> pd.DataFrame:
    """Display text of every score cell: mean (± sd over seeds), best in bold, † when the difference
    to the baseline is significant after Holm's correction."""
    best = _best(table)
    pm, dagger = (r" $\pm$ ", r"$^\dagger$") if latex else (" ± ", DAGGER)
    out = pd.DataFrame(index=table.frame.index, columns=table.frame.columns, dtype=object)
    for row in table.frame.index:
        for column in table.frame.columns:
            value = table.frame.loc[row, column]
            if pd.isna(value):
                out.loc[row, column] = "--"
                continue
            text = f"{value:.2f}"
            if latex and column in best and value == best[column]:
                text = rf"\textbf{{{text}}}"
            sd = _cell(table.sd, row, column)
            if sd is not None and (_cell(table.n_seeds, row, column) or 0) > 1:
                text += f"{pm}{sd:.2f}"
            out.loc[row, column] = text + (dagger if _significant(table, row, column) else "")
    return out


def delta_cells(table: ComparisonTable) -> pd.DataFrame | None:
    """Display text of each row's difference to the baseline: ``+1.20 [0.31, 2.05]†`` (None: no baseline)."""
    if not table.comparisons:
        return None
    columns = [c for c in table.frame.columns if c != DELTA]
    out = pd.DataFrame(index=list(table.comparisons), columns=columns, dtype=object)
    for row in out.index:
        for column in columns:
            compared = table.comparison(row, column)
            out.loc[row, column] = (
                "--"
                if compared is None
                else f"{compared.delta:+.2f} [{compared.ci_low:+.2f}, {compared.ci_high:+.2f}]"
                + (DAGGER if _significant(table, row, column) else "")
            )
    out.index.name = f"Δ vs {table.baseline}"
    return out


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "$": r"\$"}  # fmt: skip


def latex_text(text: str) -> str:
    """Plain text (captions, row labels) made safe for LaTeX (pdflatex): specials escaped, symbols math."""
    text = re.sub(r"[\\&%#_{}$]", lambda m: LATEX_SPECIALS[m.group()], text)  # one pass: no re-escaping
    symbols = ((DAGGER, r"$^\dagger$"), ("Δ", r"$\Delta$"), ("±", r"$\pm$"), (" x 100", r" $\times$ 100"),
               ("<", "$<$"), (">", "$>$"), ("≤", r"$\leq$"))  # fmt: skip
    for symbol, math in symbols:
        text = text.replace(symbol, math)
    return text


def to_latex(table: ComparisonTable) -> str:
    """A booktabs table with one header row, ``\\centering``, a caption that names model, suite and
    metric, and a ``\\label`` from the file name."""
    cells = score_cells(table, latex=True)
    cells.index = [latex_text(str(label)) for label in cells.index]
    cells.columns = [latex_text(str(column)) for column in cells.columns]
    cells = cells.reset_index(names="Method")
    styler = cells.style.hide(axis="index")
    caption = latex_text("; ".join(table.notes))
    return styler.to_latex(
        hrules=True,
        caption=caption,
        label=f"tab:{table.stem}",
        position_float="centering",
        column_format="l" + "r" * (len(cells.columns) - 1),
    )


def to_markdown(table: ComparisonTable) -> str:
    cells = score_cells(table)
    cells.index.name = "method"
    body = cells.to_markdown(colalign=["left"] + ["right"] * len(cells.columns))
    deltas = delta_cells(table)
    if deltas is not None:
        body += "\n\n" + deltas.to_markdown(colalign=["left"] + ["right"] * len(deltas.columns))
    return body + "\n\n" + "\n".join(f"- {note}" for note in table.notes) + "\n"


def write_table(table: ComparisonTable, folder: Path) -> list[Path]:
    """Write CSV, LaTeX and Markdown versions; returns their paths."""
    paths = [folder / f"{table.stem}.{ext}" for ext in ("csv", "tex", "md")]
    atomic_write_text(paths[0], table.frame.round(4).to_csv())
    atomic_write_text(paths[1], to_latex(table))
    atomic_write_text(paths[2], to_markdown(table))
    if table.suite != "sts+gen":
        paths.append(folder / f"{table.stem}-long.csv")
        atomic_write_text(paths[-1], long_frame(table).round(4).to_csv(index=False))
    if table.suite == "sts+gen":
        from bench.app.plots import plot_tradeoff

        title = f"{table.model}: embedding quality vs generation (one point per method)"
        paths.append(
            plot_tradeoff(
                table.frame, STS_AVG, GEN_AVG, title, folder / f"{table.stem}-tradeoff.png", table.intervals
            )
        )
    return paths


def print_table(table: ComparisonTable) -> None:
    """The score table (and the differences to the baseline, if any) on stdout; best cells in green."""
    best = _best(table)
    cells = score_cells(table)
    views = [(table.notes[0], cells, best)]
    deltas = delta_cells(table)
    if deltas is not None:
        views.append((f"Δ vs {table.baseline} with 95% CI", deltas, {}))
    for title, texts, highlight in views:
        view = Table(title=title, title_justify="left")
        view.add_column(str(texts.index.name or "method"), style="bold")
        for column in texts.columns:
            view.add_column(str(column), justify="right")
        for row in texts.index:
            shown = []
            for column in texts.columns:
                text = escape(str(texts.loc[row, column]))
                value = table.frame.loc[row, column] if row in table.frame.index else None
                is_best = column in highlight and value == highlight[column]
                shown.append(f"[bold green]{text}[/bold green]" if is_best else text)
            view.add_row(escape(str(row)), *shown)
        data_console.print(view)
    for note in table.notes[1:]:
        data_console.print(f"[dim]{escape(note)}[/dim]")
