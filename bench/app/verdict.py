"""The verdict of a compared table in one small table: per row its average, the difference to the
baseline with the paired 95% CI, and Holm's p (``<stem>-verdict.md`` / ``.tex`` beside the full table)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.app.tables import ComparisonTable, latex_text, score_cells
from bench.core.atomic import atomic_write_text


def _p_text(p_value: float | None) -> str:
    if p_value is None:
        return ""
    return "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"


def verdict_cells(table: ComparisonTable) -> pd.DataFrame | None:
    """One row per method (the baseline first): the average cell as shown in the full table (± sd over
    seeds, † if significant), Δ, 95% CI and Holm's p of the average (None without a baseline or an
    average column)."""
    column = table.average_column
    if column is None or not table.average_compared or table.baseline not in table.frame.index:
        return None
    scores = score_cells(table)[column]
    rows = [table.baseline] + [row for row in table.frame.index if row != table.baseline]
    records = []
    for row in rows:
        compared = table.comparison(row, column) if row != table.baseline else None
        records.append(
            {
                "method": row,
                column: scores[row],
                f"Δ vs {table.baseline}": "" if compared is None else f"{compared.delta:+.2f}",
                "95% CI": "" if compared is None else f"[{compared.ci_low:+.2f}, {compared.ci_high:+.2f}]",
                "p (Holm)": "" if compared is None else _p_text(table.p_holm.get((row, column))),
            }
        )
    return pd.DataFrame(records).set_index("method")


def write_verdict(table: ComparisonTable, folder: Path) -> list[Path]:
    """``<stem>-verdict.md`` and ``.tex``; nothing when the table has no comparison of averages."""
    cells = verdict_cells(table)
    if cells is None:
        return []
    note = (
        f"{table.notes[0]}; Δ: difference to {table.baseline} on the same items with its paired 95% CI; "
        f"p after Holm's correction over the {len(table.average_compared)} averages; † p < 0.05"
    )
    align = ["left"] + ["right"] * len(cells.columns)
    markdown = cells.to_markdown(colalign=align, disable_numparse=True) + f"\n\n- {note}\n"
    latex_cells = cells.copy()
    latex_cells.index = [latex_text(str(label)) for label in latex_cells.index]
    latex_cells.columns = [latex_text(str(c)) for c in latex_cells.columns]
    latex_cells = latex_cells.map(lambda text: latex_text(str(text)))
    latex = (
        latex_cells.reset_index(names="Method")
        .style.hide(axis="index")
        .to_latex(
            hrules=True,
            caption=latex_text(note[0].upper() + note[1:]),
            label=f"tab:{table.stem}-verdict",
            position_float="centering",
            column_format="l" + "r" * len(cells.columns),
        )
    )
    paths = [folder / f"{table.stem}-verdict.md", folder / f"{table.stem}-verdict.tex"]
    atomic_write_text(paths[0], markdown)
    atomic_write_text(paths[1], latex)
    return paths
