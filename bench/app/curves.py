"""Checkpoint-selection curves of trained rows: STS-B dev against training samples seen, several
trainings on one figure (the paper's data-size figure), read from the stored results' adapter folders."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.app.plots import short_labels
from bench.app.records import ResultRecord
from bench.core.atomic import atomic_write
from bench.core.errors import BenchError

SUMMARY_FILE = "training_summary.json"  # bench.training.adapters.SUMMARY, named here to keep torch unloaded


@dataclass(frozen=True)
class DevPoint:
    step: int
    samples: int
    stsb_dev: float


@dataclass(frozen=True)
class DevCurve:
    """One training's STS-B dev curve; ``kept_step`` is the checkpoint selection kept."""

    row: str
    seed: int
    training_folder: Path
    points: tuple[DevPoint, ...]
    kept_step: int | None


def _points(summary: dict, path: Path) -> tuple[DevPoint, ...]:
    settings = summary.get("settings") or {}
    try:
        per_step = int(settings.get("micro_batch", 0)) * int(settings.get("grad_accum", 1))
        points = []
        for entry in summary.get("dev_curve") or []:
            step = int(entry["step"])
            if "samples" in entry:
                samples = int(entry["samples"])
            elif per_step:  # trainings before the curve recorded samples: full steps of the effective batch
                samples = step * per_step
            else:
                raise BenchError(f"{path}: a dev point without 'samples' and no batch settings")
            points.append(DevPoint(step, samples, float(entry["stsb_dev"])))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BenchError(f"{path}: its dev curve is malformed ({type(exc).__name__}: {exc})") from None
    return tuple(points)


def dev_curves(records: list[ResultRecord], methods: list[str]) -> list[DevCurve]:
    """The dev curve of every training behind ``methods``' stored results (each training once, under the
    first row, in ``methods`` order, that used it); a one-line error when there is none to show."""
    curves: dict[Path, DevCurve] = {}
    for name in methods:
        rows = [r for r in records if name in (r.method.name, r.method.label)]
        if not rows:
            raise BenchError(f"no stored results for {name!r} (see `bench results`)")
        trained = [r for r in rows if r.method.training and r.method.training.get("adapter")]
        if not trained:
            raise BenchError(f"{name!r} is not a trained method: its results name no adapter")
        for record in sorted(trained, key=lambda r: (r.method.label, r.seed)):
            folder = Path(record.method.training["adapter"]).parent
            if folder in curves:
                continue
            summary_path = folder / SUMMARY_FILE
            if not summary_path.is_file():
                raise BenchError(
                    f"{record.method.label} (seed {record.seed}): {summary_path} is missing "
                    "(was $BENCH_CACHE cleared? rerun with --retrain)"
                )
            try:
                summary = json.loads(summary_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BenchError(f"{summary_path} is not a training summary ({exc})") from None
            if not isinstance(summary, dict):
                raise BenchError(f"{summary_path} is not a training summary (not a JSON object)")
            points = _points(summary, summary_path)
            if not points:
                raise BenchError(
                    f"{record.method.label}: its training kept no dev curve (no dev evaluations)"
                )
            curves[folder] = DevCurve(
                record.method.label, record.seed, folder, points, summary.get("best_step")
            )
    return list(curves.values())


def curves_file_name(model: str, methods: list[str]) -> str:
    """``<model>-dev-curves-<m1>+<m2>.png``, so that figures of other method sets do not overwrite it
    (a hash instead of the names when they are long or hold characters unsafe in a file name)."""
    joined = "+".join(methods)
    if len(joined) > 80 or not re.fullmatch(r"[A-Za-z0-9_.+-]+", joined):
        joined = hashlib.sha256(joined.encode()).hexdigest()[:10]
    return f"{model}-dev-curves-{joined}.png"


def curves_frame(curves: list[DevCurve]) -> pd.DataFrame:
    """Tidy form: one line per (training, dev evaluation)."""
    rows = [
        {
            "row": c.row,
            "seed": c.seed,
            "step": p.step,
            "samples": p.samples,
            "stsb_dev": p.stsb_dev,
            "kept": p.step == c.kept_step,
            "training": c.training_folder.name,
        }
        for c in curves
        for p in c.points
    ]
    return pd.DataFrame(rows)


def plot_dev_curves(curves: list[DevCurve], path: Path, title: str) -> Path:
    """One line per training (seeds of a row share its colour), the kept checkpoint starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(dict.fromkeys(c.row for c in curves))
    seeds = {row: len({c.seed for c in curves if c.row == row}) for row in rows}
    legend = {
        row: short + (f" ({seeds[row]} seeds)" if seeds[row] > 1 else "")
        for row, short in zip(rows, short_labels(rows), strict=True)
    }
    fig, ax = plt.subplots(figsize=(7, 4))
    colours: dict[str, str] = {}
    for curve in curves:
        colour = colours.setdefault(curve.row, f"C{len(colours) % 10}")
        xs = [p.samples for p in curve.points]
        ys = [p.stsb_dev for p in curve.points]
        label = legend.pop(curve.row, None)  # one legend entry per row, however many seeds
        ax.plot(xs, ys, marker="o", markersize=3, color=colour, label=label)
        for p in curve.points:
            if p.step == curve.kept_step:
                ax.plot([p.samples], [p.stsb_dev], marker="*", markersize=12, color=colour)
    ax.set(xlabel="training samples seen", ylabel="STS-B dev Spearman x 100", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return path
