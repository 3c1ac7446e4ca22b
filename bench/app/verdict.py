"""The verdict of a compared table in one small table: per row its average, the difference to the
baseline with the paired 95% CI, and Holm's p (``<stem>-verdict.md`` / ``.tex`` beside the full table)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from bench.app.records import ResultRecord
from bench.app.tables import ComparisonTable, latex_text, score_cells
from bench.core.atomic import atomic_write_text


def _p_text(p_value: float | None) -> str:
    if p_value is None:
        return ""
    return "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"


ENCODE_COST = "encode s / 1k sentences"
TRAINING_COST = "training min"


def cost_cells(records: list[ResultRecord]) -> dict[str, str]:
    """What a row cost when it was computed: encoding seconds per 1,000 sentences, from the median over
    its results of each result's rate (sentences read from the embedding cache are not counted, and one
    result whose process was paused or shared the machine does not skew it), and the mean training time
    of its adapters; ``--`` where the records do not say."""
    rates = [
        r.timing["encoded_sentences"] / r.timing["encode_seconds"]
        for r in records
        if (r.timing.get("encoded_sentences") or 0) > 0 and (r.timing.get("encode_seconds") or 0) > 0
    ]
    trainings = {
        r.method.training["adapter"]: r.method.training.get("seconds")
        for r in records
        if r.method.training and r.method.training.get("adapter")
    }
    times = [t for t in trainings.values() if t is not None]
    return {
        ENCODE_COST: f"{1000 / statistics.median(rates):.1f}" if rates else "--",
        TRAINING_COST: f"{sum(times) / len(times) / 60:.1f}" if times else "--",
    }


def _difference_cells(table: ComparisonTable, row: str, column: str) -> tuple[str, str, str]:
    """Δ, 95% CI and Holm's p of ``row``'s ``column`` against the baseline: blank for the baseline itself,
    ``--`` where no comparison could be made."""
    if row == table.baseline:
        return ("", "", "")
    compared = table.comparison(row, column)
    if compared is None:
        return ("--", "--", "--")
    interval = f"[{compared.ci_low:+.2f}, {compared.ci_high:+.2f}]"
    return (f"{compared.delta:+.2f}", interval, _p_text(table.p_holm.get((row, column))))


def verdict_cells(table: ComparisonTable) -> pd.DataFrame | None:
    """One row per method (the baseline first): the average cell as shown in the full table (± sd over
    seeds, † if significant), Δ, 95% CI and Holm's p of the average; ``--`` for a row whose average could
    not be compared (None without a baseline row or any compared average)."""
    column = table.average_column
    if column is None or not table.average_compared or table.baseline not in table.frame.index:
        return None
    scores = score_cells(table)[column]
    heads = (f"Δ vs {table.baseline}", "95% CI", "p (Holm)")
    rows = [table.baseline] + [row for row in table.frame.index if row != table.baseline]
    records = [
        {
            "method": row,
            column: scores[row],
            **dict(zip(heads, _difference_cells(table, row, column), strict=True)),
            **cost_cells(table.row_records.get(row, [])),
        }
        for row in rows
    ]
    frame = pd.DataFrame(records).set_index("method")
    empty = [c for c in (ENCODE_COST, TRAINING_COST) if (frame[c] == "--").all()]
    return frame.drop(columns=empty)


def write_verdict(table: ComparisonTable, folder: Path) -> list[Path]:
    """``<stem>-verdict.md`` and ``.tex`` with the full table's notes (which name the test, the resamples
    and the Holm families); without a comparison of averages, earlier verdict files of this stem are
    removed so that none outlives the table it summarised."""
    paths = [folder / f"{table.stem}-verdict.md", folder / f"{table.stem}-verdict.tex"]
    cells = verdict_cells(table)
    if cells is None:
        for path in paths:
            path.unlink(missing_ok=True)
        return []
    align = ["left"] + ["right"] * len(cells.columns)
    cost = [c for c in (ENCODE_COST, TRAINING_COST) if c in cells.columns]
    all_notes = table.notes + (
        [
            f"{' and '.join(cost)}: as recorded when each result was computed (encoding: median over the "
            "row's results of their rates, sentences read from the embedding cache not counted; training: "
            "mean over its adapters)"
        ]  # fmt: skip
        if cost
        else []
    )
    notes = "\n".join(f"- {note}" for note in all_notes)
    markdown = cells.to_markdown(colalign=align, disable_numparse=True) + f"\n\n{notes}\n"
    latex_cells = cells.map(lambda text: latex_text(str(text)))
    latex_cells.index = [latex_text(str(label)) for label in latex_cells.index]
    latex_cells.columns = [latex_text(str(c)) for c in latex_cells.columns]
    latex = (
        latex_cells.reset_index(names="Method")
        .style.hide(axis="index")
        .to_latex(
            hrules=True,
            caption=latex_text("; ".join(all_notes)),
            label=f"tab:{table.stem}-verdict",
            position_float="centering",
            column_format="l" + "r" * len(cells.columns),
        )
    )
    atomic_write_text(paths[0], markdown)
    atomic_write_text(paths[1], latex)
    return paths
