"""`bench curves`: dev curves read from the stored results' training folders, one figure, a tidy CSV."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bench.app.curves import curves_file_name, curves_frame, dev_curves, plot_dev_curves
from bench.app.records import MethodInfo, ResultRecord
from bench.app.store import ResultKey, ResultStore
from bench.cli import main
from bench.core.errors import BenchError

MODEL = {"name": "tiny", "slug": "tiny", "namespace": "tiny-ns"}


def _points(*points: tuple[int, int, float]) -> list[dict]:
    """(step, samples, dev) -> the trainer's dev-curve entries."""
    return [{"step": step, "samples": samples, "stsb_dev": dev} for step, samples, dev in points]


def _training(folder: Path, curve: list[dict], best_step: int | None, settings: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    summary = {"steps": 2, "best_step": best_step, "dev_curve": curve, "settings": settings or {}}
    (folder / "training_summary.json").write_text(json.dumps(summary))
    return folder / "adapter"


def _record(
    method: str, label: str, adapter: Path | None, seed: int = 0, task: str = "STS12"
) -> ResultRecord:
    training = {"adapter": str(adapter), "steps": 2} if adapter else None
    return ResultRecord(
        MODEL, MethodInfo(method, label, "h", training=training), "sts", task, 50.0, seed=seed
    )


def test_each_training_appears_once_under_the_first_row_that_used_it(tmp_path):
    sempa = _training(tmp_path / "sempa-a", _points((0, 0, 80.0), (5, 80, 79.0)), best_step=5)
    records = [_record("sempa", "sempa", sempa, task=t) for t in ("STS12", "STS13")]
    records.append(_record("sempa-chat", "sempa-chat", sempa))  # reads the same adapter
    curves = dev_curves(records, ["sempa", "sempa-chat"])
    assert [(c.row, c.training_folder.name) for c in curves] == [("sempa", "sempa-a")]
    assert [(p.samples, p.stsb_dev) for p in curves[0].points] == [(0, 80.0), (80, 79.0)]


def test_points_without_samples_count_full_effective_batches(tmp_path):
    curve = [{"step": 0, "stsb_dev": 80.0}, {"step": 10, "stsb_dev": 81.0}]
    old = _training(tmp_path / "old", curve, best_step=10, settings={"micro_batch": 8, "grad_accum": 2})
    (curve,) = dev_curves([_record("sempa", "sempa", old)], ["sempa"])
    assert [p.samples for p in curve.points] == [0, 160]
    frame = curves_frame([curve])
    assert frame["kept"].tolist() == [False, True]
    assert set(frame.columns) >= {"row", "seed", "step", "samples", "stsb_dev", "training"}


def test_seeds_are_separate_curves_and_the_figure_is_a_png(tmp_path):
    records = []
    for seed in (0, 1):
        adapter = _training(tmp_path / f"s{seed}", _points((0, 0, 80.0), (1, 16, 80.0 + seed)), 1)
        records.append(_record("contrastive", "contrastive", adapter, seed=seed))
    curves = dev_curves(records, ["contrastive"])
    assert [c.seed for c in curves] == [0, 1]
    png = plot_dev_curves(curves, tmp_path / "out" / "curves.png", "title")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "no stored results for 'sempa'"),
        ([_record("sempa", "sempa", None)], "not a trained method"),
        ([_record("sempa", "sempa", Path("/nowhere/sempa-x/adapter"))], "training_summary.json is missing"),
    ],
)
def test_rows_without_a_curve_get_a_one_line_error(records, message):
    with pytest.raises(BenchError, match=message):
        dev_curves(records, ["sempa"])


@pytest.mark.parametrize(
    "summary",
    ["[1, 2]", '{"dev_curve": [{"step": 0}]}', '{"dev_curve": [{"step": null, "stsb_dev": 1}]}', "{not json"],
)
def test_a_damaged_training_summary_is_a_bench_error_naming_the_file(tmp_path, summary):
    folder = tmp_path / "sempa-x"
    folder.mkdir()
    (folder / "training_summary.json").write_text(summary)
    with pytest.raises(BenchError, match="training_summary.json"):
        dev_curves([_record("sempa", "sempa", folder / "adapter")], ["sempa"])


def test_file_names_hold_the_method_set_or_a_hash_of_it():
    assert curves_file_name("m", ["sempa", "sempa-sft"]) == "m-dev-curves-sempa+sempa-sft.png"
    unsafe = curves_file_name("m", ["sempa[beta=0.2] (first 400)"])
    assert re.fullmatch(r"m-dev-curves-[0-9a-f]{10}\.png", unsafe)


def test_cli_writes_the_figure_and_csv_and_prints_the_points(tmp_path, capsys):
    adapter = _training(tmp_path / "cache" / "sempa-k", _points((0, 0, 80.0), (3, 48, 78.5)), 0)
    store = ResultStore(tmp_path / "results")
    store.write(ResultKey("tiny-ns", "sempa", "h", "STS12", seed=0), _record("sempa", "sempa", adapter))
    assert main(["curves", "--methods", "sempa", "--out", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "sempa (seed 0): 0: 80.00, 48: 78.50"
    frame = pd.read_csv(tmp_path / "results" / "tables" / "tiny-dev-curves-sempa.csv")
    assert frame["stsb_dev"].tolist() == [80.0, 78.5] and frame["kept"].tolist() == [True, False]
    assert (tmp_path / "results" / "tables" / "tiny-dev-curves-sempa.png").is_file()
    to = tmp_path / "docs" / "fig.png"
    assert main(["curves", "--methods", "sempa", "--out", str(tmp_path / "results"), "--to", str(to)]) == 0
    assert to.is_file() and to.with_suffix(".csv").is_file()
    capsys.readouterr()
    assert main(["curves", "--methods", "sempa", "--out", str(tmp_path / "results"), "--model", "other"]) == 2
    assert "no stored results of model 'other'" in capsys.readouterr().err
    assert main(["curves", "--methods", "sempa", "--out", str(tmp_path / "results"), "--to", "x.jpg"]) == 2
    assert "ending in .png" in capsys.readouterr().err


def test_method_lists_keep_commas_inside_a_row_label_together():
    from bench.cli import _csv

    assert _csv("sempa[dev_pairs=300,grad_accum=2],sempa-sft") == [
        "sempa[dev_pairs=300,grad_accum=2]",
        "sempa-sft",
    ]
    assert _csv(" prompteol , mean ") == ["prompteol", "mean"]
