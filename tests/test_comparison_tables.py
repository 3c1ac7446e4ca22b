"""Tables with a baseline: paired CIs, Holm-adjusted daggers and seed aggregation, on synthetic
predictions whose answer is known."""

from pathlib import Path

import numpy as np
import pytest

from bench.app.compare import compare_rows
from bench.app.records import MethodInfo, ResultRecord
from bench.app.tables import build_tables, long_frame, score_cells, to_latex, to_markdown
from bench.core.statistics import spearman

MODEL = {"name": "m", "slug": "m"}
TASKS = ("STS12", "STS13")


def _dataset(seed: int = 0, n: int = 300):
    rng = np.random.default_rng(seed)
    gold = {t: np.round(rng.uniform(0, 5, n) * 5) / 5 for t in TASKS}
    noise = {t: rng.normal(size=n) for t in TASKS}
    return gold, noise


def _records(method: str, predictions: dict, gold: dict, cosines: dict, seed: int = 0) -> list[ResultRecord]:
    out = []
    for task in TASKS:
        path = Path(f"/fake/{method}/{task}.seed{seed}.json")
        predictions[path] = {"gold": gold[task], "cosine": cosines[task]}
        score = 100 * spearman(gold[task], cosines[task])
        out.append(
            ResultRecord(MODEL, MethodInfo(method, method, "h"), "sts", task, score, seed=seed, path=path)
        )
    return out


@pytest.fixture()
def table_inputs():
    gold, noise = _dataset()
    predictions: dict = {}
    records = _records("prompteol", predictions, gold, {t: gold[t] + 1.5 * noise[t] for t in TASKS})
    records += _records("better", predictions, gold, {t: gold[t] + 0.3 * noise[t] for t in TASKS})
    records += _records("same", predictions, gold, {t: gold[t] + 1.5 * noise[t] for t in TASKS})
    return records, (lambda record: predictions[record.path])


def test_a_clearly_better_row_is_significant_and_an_identical_row_is_not(table_inputs):
    records, predictions = table_inputs
    (table,) = build_tables(records, baseline="prompteol", predictions=predictions, n_resamples=2000)
    better, same = table.comparisons["better"].result, table.comparisons["same"].result
    assert better.average.ci_low > 0 and better.average.p_value < 0.01
    assert (same.average.delta, same.average.p_value) == (0.0, 1.0)
    assert same.average.ci_low == same.average.ci_high == 0.0
    assert all(table.p_holm[("better", c)] < 0.05 for c in ("STS12", "STS13", "Avg"))
    assert all(table.p_holm[(r, c)] >= table.comparison(r, c).p_value for r, c in table.p_holm)
    # the averages are their own Holm family (2 rows here), the per-task cells another (4 cells)
    assert table.p_holm[("better", "Avg")] == pytest.approx(min(1.0, 2 * better.average.p_value))
    assert "2 averages and 4 per-task cells" in table.notes[-1]
    cells = score_cells(table)
    assert cells.loc["better", "Avg"].endswith("†") and not cells.loc["same", "Avg"].endswith("†")
    assert "prompteol" not in table.comparisons  # the baseline is not compared with itself
    latex = to_latex(table)
    assert r"$^\dagger$" in latex and "Holm" in latex and "Δ" not in latex  # pdflatex-safe caption
    markdown = to_markdown(table)
    assert "Δ vs prompteol" in markdown and "[+" in markdown
    long = long_frame(table)
    row = long[(long["row"] == "better") & (long["task"] == "STS12")].iloc[0]
    assert row["ci_low"] <= row["delta"] <= row["ci_high"] and row["baseline"] == "prompteol"
    assert row["delta"] == pytest.approx(
        table.frame.loc["better", "STS12"] - table.frame.loc["prompteol", "STS12"]
    )


def test_same_bootstrap_seed_same_numbers_other_seed_other_numbers(table_inputs):
    records, predictions = table_inputs
    rows = (
        [r for r in records if r.method.name == "better"],
        [r for r in records if r.method.name == "prompteol"],
    )
    first = compare_rows(*rows, predictions, n_resamples=500, seed=3).result.average
    again = compare_rows(*rows, predictions, n_resamples=500, seed=3).result.average
    other = compare_rows(*rows, predictions, n_resamples=500, seed=4).result.average
    assert first == again and (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_rows_over_several_seeds_show_mean_and_sd():
    gold, noise = _dataset()
    predictions: dict = {}
    records = _records("prompteol", predictions, gold, {t: gold[t] + noise[t] for t in TASKS})
    for seed, scale in ((0, 0.5), (1, 0.9), (2, 0.7)):
        rng = np.random.default_rng(10 + seed)
        cosines = {t: gold[t] + scale * rng.normal(size=len(gold[t])) for t in TASKS}
        records += _records("sempa", predictions, gold, cosines, seed=seed)
    (table,) = build_tables(
        records, baseline="prompteol", predictions=lambda r: predictions[r.path], n_resamples=500
    )
    scores = [r.main_score for r in records if r.method.name == "sempa" and r.task == "STS12"]
    assert table.frame.loc["sempa", "STS12"] == pytest.approx(np.mean(scores))
    assert table.sd.loc["sempa", "STS12"] == pytest.approx(np.std(scores, ddof=1))
    assert table.n_seeds.loc["sempa", "STS12"] == 3 and table.n_seeds.loc["prompteol", "STS12"] == 1
    assert " ± " in score_cells(table).loc["sempa", "STS12"]
    assert table.comparisons["sempa"].result.n_seeds_a == 3
    long = long_frame(table)
    assert long[(long["row"] == "sempa") & (long["task"] == "STS12")]["n_seeds"].iloc[0] == 3


def test_rows_scored_on_different_pairs_are_refused(table_inputs):
    from bench.core.errors import BenchError

    records, predictions = table_inputs
    a = [r for r in records if r.method.name == "better"]
    b = [r for r in records if r.method.name == "prompteol"]

    def shuffled(record):
        values = dict(predictions(record))
        if record.method.name == "prompteol":
            values["gold"] = values["gold"][::-1].copy()
        return values

    with pytest.raises(BenchError, match="different pairs"):
        compare_rows(a, b, shuffled, n_resamples=100)


def _gen_records(method: str, predictions: dict, correct: dict) -> list[ResultRecord]:
    out = []
    for task, values in correct.items():
        path = Path(f"/fake/gen/{method}/{task}.json")
        predictions[path] = {"acc": values}
        out.append(ResultRecord(MODEL, MethodInfo(method, method, "h"), "gen", task, 100 * values.mean(),
                                limit=len(values), main_metric="acc,none", path=path))  # fmt: skip
    return out


def test_generation_rows_compare_per_document_with_mcnemar():
    rng = np.random.default_rng(5)
    base = {t: (rng.uniform(size=400) < 0.5).astype(float) for t in ("boolq", "piqa")}
    worse = {t: np.where(rng.uniform(size=400) < 0.25, 0.0, v) for t, v in base.items()}  # loses 1 in 4 right
    predictions: dict = {}
    a, b = _gen_records("contrastive", predictions, worse), _gen_records("base", predictions, base)
    compared = compare_rows(a, b, lambda r: predictions[r.path], n_resamples=2000)
    average = compared.result.average
    assert average.delta == pytest.approx(100 * np.mean([worse[t].mean() - base[t].mean() for t in base]))
    assert average.ci_high < 0 and average.p_value < 0.01
    assert compared.mcnemar["boolq@400"].only_a_correct == 0 and compared.mcnemar["boolq@400"].p_value < 0.01


def test_tradeoff_plot_gets_error_bars_from_the_comparisons(table_inputs, tmp_path):
    from bench.app.tables import STS_AVG, write_table

    records, predictions = table_inputs
    gen_predictions: dict = {}
    rng = np.random.default_rng(6)
    correct = {t: (rng.uniform(size=50) < 0.6).astype(float) for t in ("boolq", "piqa")}
    records += _gen_records("base", gen_predictions, correct)
    tables = build_tables(
        records,
        baseline="prompteol",
        predictions=lambda r: gen_predictions[r.path] if r.suite == "gen" else predictions(r),
        n_resamples=300,
    )
    combined = next(t for t in tables if t.suite == "sts+gen")
    low, high = combined.intervals[("better", STS_AVG)]
    assert low > 0 and high > 0 and ("prompteol", STS_AVG) not in combined.intervals
    paths = write_table(combined, tmp_path)
    assert paths[-1].name.endswith("tradeoff.png") and paths[-1].read_bytes()[:4] == b"\x89PNG"


def test_gen_cells_at_two_limits_are_compared_separately():
    rng = np.random.default_rng(7)
    predictions: dict = {}
    records = []
    for method, p_correct in (("base", 0.5), ("sempa", 0.8)):
        for limit, n in ((100, 100), (None, 300)):
            values = (rng.uniform(size=n) < p_correct).astype(float)
            path = Path(f"/fake/gen/{method}/boolq.{limit}.json")
            predictions[path] = {"acc": values}
            info = MethodInfo(method, method, "h")
            records.append(ResultRecord(MODEL, info, "gen", "boolq", 100 * values.mean(), limit=limit,
                                        main_metric="acc,none", path=path))  # fmt: skip
    (table,) = build_tables(
        records, baseline="base", predictions=lambda r: predictions[r.path], n_resamples=300
    )
    small, full = table.comparison("sempa", "BoolQ (100)"), table.comparison("sempa", "BoolQ (all)")
    assert small.n_items == 100 and full.n_items == 300
    for column, compared in (("BoolQ (100)", small), ("BoolQ (all)", full)):
        assert compared.delta == pytest.approx(
            table.frame.loc["sempa", column] - table.frame.loc["base", column]
        )


def test_an_incomplete_row_gets_no_average_comparison_and_a_row_without_predictions_is_noted(table_inputs):
    records, predictions = table_inputs
    gold, _ = _dataset()  # the same pairs as the other rows
    noise = {t: np.random.default_rng(1).normal(size=len(gold[t])) for t in TASKS}
    partial: dict = {}
    extra = [
        r
        for r in _records("partial", partial, gold, {t: gold[t] + noise[t] for t in TASKS})
        if r.task == "STS12"
    ]
    old = [
        ResultRecord(MODEL, MethodInfo("old", "old", "h"), "sts", t, 50.0, path=Path(f"/old/{t}"))
        for t in TASKS
    ]

    def lookup(record):
        if record.method.name == "old":
            return {}  # stored before predictions were
        return partial[record.path] if record.method.name == "partial" else predictions(record)

    (table,) = build_tables(records + extra + old, baseline="prompteol", predictions=lookup, n_resamples=300)
    assert table.comparison("partial", "STS12") is not None, table.notes
    assert table.comparison("partial", "Avg") is None
    assert table.comparison("better", "Avg") is not None  # the other rows are still compared
    assert "old" not in table.comparisons and any("not compared: old" in note for note in table.notes)


def test_a_row_whose_tasks_have_different_seeds_is_refused(table_inputs):
    from bench.core.errors import BenchError

    records, predictions = table_inputs
    gold, noise = _dataset()
    seeded: dict = {}
    rows = _records("s", seeded, gold, {t: gold[t] + noise[t] for t in TASKS}, seed=0)
    rows += [
        r
        for r in _records("s", seeded, gold, {t: gold[t] + noise[t] for t in TASKS}, seed=1)
        if r.task == "STS12"
    ]
    base = [r for r in records if r.method.name == "prompteol"]
    with pytest.raises(BenchError, match="same seeds"):
        compare_rows(rows, base, lambda r: seeded.get(r.path) or predictions(r), n_resamples=100)


def test_latex_has_one_header_row_a_label_centering_and_a_caption_naming_model_suite_metric(
    table_inputs, tmp_path
):
    import shutil
    import subprocess

    records, predictions = table_inputs
    (table,) = build_tables(records, baseline="prompteol", predictions=predictions, n_resamples=500)
    latex = to_latex(table)
    head = latex.split(r"\midrule")[0].split(r"\toprule")[1].strip().splitlines()
    assert head == [r"Method & STS12 & STS13 & Avg \\"]  # one header row
    assert r"\centering" in latex and rf"\label{{tab:{table.stem}}}" in latex
    caption = latex.split(r"\caption{")[1]
    assert caption.startswith(r"STS on m: Spearman correlation of cosine similarity $\times$ 100")
    assert "95\\% CI" in caption and " 95% " not in caption  # a bare % would comment out the rest
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: the LaTeX was checked as text only")
    document = (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + latex + "\\end{document}\n"
    )
    (tmp_path / "t.tex").write_text(document)
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


def test_one_config_stored_under_two_labels_is_one_row():
    import pandas as pd

    from bench.app.tables import one_label_per_config

    frame = pd.DataFrame(
        {
            "method": ["sempa", "sempa", "sempa", "prompteol"],
            "config_hash": ["a", "a", "b", "c"],
            "label": ["sempa[x=1,y=2]", "sempa[x=1]", "sempa[z=3]", "prompteol"],
        }
    )
    assert one_label_per_config(frame).tolist() == ["sempa[x=1]", "sempa[x=1]", "sempa[z=3]", "prompteol"]


def test_the_verdict_table_has_one_line_per_row_with_the_average_difference_ci_and_holm_p(
    table_inputs, tmp_path
):
    from bench.app.verdict import verdict_cells, write_verdict

    records, predictions = table_inputs
    (table,) = build_tables(records, baseline="prompteol", predictions=predictions, n_resamples=2000)
    cells = verdict_cells(table)
    assert list(cells.index) == ["prompteol", "better", "same"]  # the baseline first
    better = table.comparison("better", "Avg")
    assert cells.loc["better", "Δ vs prompteol"] == f"{better.delta:+.2f}"
    assert cells.loc["better", "95% CI"] == f"[{better.ci_low:+.2f}, {better.ci_high:+.2f}]"
    assert cells.loc["better", "Avg"].endswith("†") and cells.loc["same", "p (Holm)"] == "1.000"
    assert (cells.loc["prompteol", "Δ vs prompteol"], cells.loc["prompteol", "p (Holm)"]) == ("", "")
    markdown, latex = (p.read_text() for p in write_verdict(table, tmp_path))
    assert f" {better.delta:+.2f} |" in markdown and "2 averages and 4 per-task cells" in markdown
    assert r"\label{tab:m-sts-verdict}" in latex and r"95\% CI" in latex
    assert not {"Δ", "†", "±"} & set(latex)  # pdflatex-safe
    # a table without a comparison of averages leaves no verdict file behind (none outlives its table)
    (no_baseline,) = build_tables(records)
    assert verdict_cells(no_baseline) is None and write_verdict(no_baseline, tmp_path) == []
    assert not list(tmp_path.glob("*verdict*"))
    (absent,) = build_tables(records, baseline="absent", predictions=predictions, n_resamples=200)
    assert verdict_cells(absent) is None


def test_a_row_whose_average_was_not_compared_is_marked_not_left_blank_like_the_baseline(table_inputs):
    from bench.app.verdict import verdict_cells

    records, predictions = table_inputs
    partial = [r for r in records if not (r.method.name == "same" and r.task == "STS13")]
    (table,) = build_tables(partial, baseline="prompteol", predictions=predictions, n_resamples=500)
    cells = verdict_cells(table)
    assert cells.loc["same", "95% CI"] == "--" and cells.loc["better", "95% CI"].startswith("[+")


def test_cost_cells_take_the_median_rate_and_the_mean_training_time_per_adapter():
    from bench.app.verdict import ENCODE_COST, TRAINING_COST, cost_cells

    def record(encoded, seconds, adapter=None, train_s=None):
        training = {"adapter": adapter, "seconds": train_s} if adapter else None
        info = MethodInfo("m", "m", "h", training=training)
        timing = {"encoded_sentences": encoded, "encode_seconds": seconds}
        return ResultRecord(MODEL, info, "sts", "STS12", 50.0, timing=timing)

    # 20 sentences/s twice, and one result whose process was paused for an hour: the median ignores it
    fresh = [record(200, 10.0), record(400, 20.0), record(100, 3600.0)]
    assert cost_cells(fresh) == {ENCODE_COST: "50.0", TRAINING_COST: "--"}  # 1000 / median(20, 20, 0.03)
    cached = [record(0, 0.01), record(200, 10.0)]  # read from the cache: no rate
    assert cost_cells(cached)[ENCODE_COST] == "50.0"
    trained = [record(200, 10.0, "a", 600.0), record(200, 10.0, "a", 600.0), record(200, 10.0, "b", 1200.0)]
    assert cost_cells(trained)[TRAINING_COST] == "15.0"  # (10 + 20 min) / 2 adapters
    assert cost_cells([ResultRecord(MODEL, MethodInfo("m", "m"), "gen", "boolq", 50.0)]) == {
        ENCODE_COST: "--",
        TRAINING_COST: "--",
    }
