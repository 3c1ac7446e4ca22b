"""Runner and store: provenance in every record, resume, --overwrite, atomic writes, tables."""

from __future__ import annotations

import json

import pytest

from bench.app.records import MethodInfo, ResultRecord
from bench.app.runner import RunRequest, run
from bench.app.store import ResultStore
from bench.app.tables import build_tables, to_latex, to_markdown
from bench.core.atomic import atomic_write_text
from bench.core.errors import BenchError
from bench.core.options import RuntimeOptions


def _request(model_dir, data, out, seed=0, **kw):
    return RunRequest(
        options=RuntimeOptions(model=str(model_dir), data_dir=data, out=out, seed=seed, show_progress=False),
        methods=kw.pop("methods", ["prompteol", "mean"]),
        suites=["sts"],
        **kw,
    )


def test_records_carry_provenance(tiny_model_dir, tiny_data, tmp_path, cache_env):
    keys = run(_request(tiny_model_dir, tiny_data, tmp_path / "out", tasks=["STS13"], seed=3))
    record = ResultStore(tmp_path / "out").read(keys[0])
    assert record.method.config["template"].startswith("This sentence")
    assert record.model["weights_sha256"] and record.model["architecture"] == "LlamaForCausalLM"
    assert {f["path"] for f in record.data.files} >= {"sts/raw/STS13-en-test/STS.gs.FNWN.txt"}
    assert all(len(f["sha256"]) == 64 for f in record.data.files)
    assert record.seed == 0 and keys[0].seed is None  # training-free: seed-independent, computed once
    assert record.environment["packages"]["torch"] and "commit" in record.environment["git"]
    assert record.timing["sentences_per_s"] > 0 and record.peak_memory["rss_mb"] > 0
    assert record.limit is None and record.n_examples == 36


def test_rerun_reuses_results_and_overwrite_recomputes(
    tiny_model_dir, tiny_data, tmp_path, cache_env, monkeypatch
):
    out = tmp_path / "out"
    run(_request(tiny_model_dir, tiny_data, out, tasks=["STS12", "SICK-R"]))
    store = ResultStore(out)
    stamps = {r.path: r.timing["finished"] for r in store.records()}
    calls = []
    import suites.sts as sts

    original = sts.STSSuite.evaluate
    monkeypatch.setattr(sts.STSSuite, "evaluate", lambda *a, **k: calls.append(a[2]) or original(*a, **k))
    run(_request(tiny_model_dir, tiny_data, out, tasks=["STS12", "SICK-R"]))
    assert calls == []
    run(_request(tiny_model_dir, tiny_data, out, tasks=["STS12"], overwrite=True))
    assert calls == ["STS12", "STS12"]
    assert len(stamps) == 4


def test_same_seed_same_numbers(tiny_model_dir, tiny_data, tmp_path, cache_env):
    scores = []
    for name in ("a", "b"):
        keys = run(_request(tiny_model_dir, tiny_data, tmp_path / name, tasks=["STS16"]))
        scores.append([ResultStore(tmp_path / name).read(k).scores for k in keys])
    assert scores[0] == scores[1]


def test_limited_results_are_stored_apart_and_marked(tiny_model_dir, tiny_data, tmp_path, cache_env):
    out = tmp_path / "out"
    full = run(_request(tiny_model_dir, tiny_data, out, tasks=["STS14"], methods=["prompteol"]))
    limited = run(_request(tiny_model_dir, tiny_data, out, tasks=["STS14"], methods=["prompteol"], limit=4))
    store = ResultStore(out)
    assert store.path(full[0]) != store.path(limited[0])
    assert store.read(limited[0]).n_examples == 4
    # never mixed in one column: one table per limit, the limit in the table's name and title, not the row's
    full_table, limited_table = build_tables(store.records())
    assert list(full_table.frame.index) == list(limited_table.frame.index) == ["prompteol"]
    assert (full_table.limit, limited_table.limit) == (None, 4)
    assert limited_table.stem.endswith("-sts-first4") and not full_table.stem.endswith("first4")
    assert "first 4 examples of each task" in to_markdown(limited_table)
    assert "first" not in to_markdown(full_table)


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")

    def explode(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    from bench.core.atomic import atomic_write

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def _record(method, task, score, limit=None):
    return ResultRecord(
        model={"name": "m"},
        method=MethodInfo(method, method),
        suite="sts",
        task=task,
        main_score=score,
        limit=limit,
    )


def test_table_average_bold_best_and_order():
    tasks = ["STS12", "STS13", "STS14", "STS15", "STS16", "STSBenchmark", "SICK-R"]
    records = [_record("a", t, 50.0 + i) for i, t in enumerate(tasks)]
    records += [_record("b", t, 60.0) for t in tasks]
    records += [_record("c", "STS12", 90.0)]
    (table,) = build_tables(records, method_order=["b", "a", "c"])
    frame = table.frame
    assert list(frame.index) == ["b", "a", "c"]
    assert list(frame.columns) == ["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R", "Avg"]
    assert frame.loc["a", "Avg"] == pytest.approx(53.0)
    assert frame.loc["c", "Avg"] != frame.loc["c", "Avg"]  # NaN: row is incomplete
    latex = to_latex(table)
    assert r"\toprule" in latex and r"\textbf{90.00}" in latex and r"\textbf{60.00}" in latex
    assert "--" in latex
    assert json.loads(frame.to_json())  # serialisable


def test_table_escapes_latex_in_labels():
    (table,) = build_tables([_record("x", "STS12", 1.0), _record("prompteol[template=a_b%]", "STS12", 2.0)])
    assert r"a\_b\%" in to_latex(table)


def test_temp_files_of_live_writers_are_kept(tmp_path):
    """A fresh temp file of a running process may be a concurrent write (an ablation worker): kept;
    one of a dead process, or an old one, is a leftover: removed."""
    import os
    import subprocess
    import time

    from bench.app.store import ResultStore

    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = tmp_path / "runs" / "m" / "prompteol-abc"
    folder.mkdir(parents=True)
    live = folder / f".STS12.json.{os.getpid()}-ab12.tmp"
    old = folder / f".STS13.json.{os.getpid()}-cd34.tmp"
    orphan = folder / f".STS14.json.{dead.pid}-ef56.tmp"
    for path in (live, old, orphan):
        path.write_text("{")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert ResultStore(tmp_path).remove_stale_temp_files() == 2
    assert live.exists() and not old.exists() and not orphan.exists()


def test_predictions_are_stored_beside_the_record_and_reproduce_the_score(
    tiny_model_dir, tiny_data, tmp_path, cache_env
):
    from bench.core.statistics import spearman

    keys = run(_request(tiny_model_dir, tiny_data, tmp_path / "out", tasks=["STS12", "STSBenchmark"]))
    store = ResultStore(tmp_path / "out")
    for key in keys:
        record = store.read(key)
        predictions = store.predictions(record)
        assert set(predictions) == {"cosine", "gold"} and len(predictions["cosine"]) == record.n_examples
        assert 100 * spearman(predictions["gold"], predictions["cosine"]) == pytest.approx(
            record.main_score, abs=1e-3
        )
        assert record.details["predictions"]["gold_sha256"]


def test_a_limit_at_or_above_the_task_size_is_the_whole_task(tiny_model_dir, tiny_data, tmp_path, cache_env):
    out = tmp_path / "out"
    full = run(_request(tiny_model_dir, tiny_data, out, tasks=["STS13"], methods=["prompteol"]))
    huge = run(_request(tiny_model_dir, tiny_data, out, tasks=["STS13"], methods=["prompteol"], limit=10**9))
    assert full == huge and full[0].limit is None


def test_different_data_files_are_a_different_result(tiny_model_dir, tiny_data, tmp_path, cache_env):
    import shutil

    out = tmp_path / "out"
    first = run(_request(tiny_model_dir, tiny_data, out, tasks=["STS13"], methods=["prompteol"]))
    changed = tmp_path / "changed"
    shutil.copytree(tiny_data, changed)
    gold = next(p for p in sorted(changed.rglob("STS.gs.*.txt")) if "STS13" in str(p))
    lines = gold.read_text().splitlines()
    gold.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")  # two gold scores swapped
    second = run(_request(tiny_model_dir, changed, out, tasks=["STS13"], methods=["prompteol"]))
    assert first[0].data != second[0].data
    assert ResultStore(out).path(first[0]).is_file() and ResultStore(out).path(second[0]).is_file()


def test_a_method_that_ignores_the_model_is_stored_once_and_one_weights_file_is_one_namespace():
    from types import SimpleNamespace

    from bench.app.runner import model_namespace
    from bench.core.models import ModelSpec

    alias = ModelSpec("smollm2-135m", "embedded", "/a", "ab" * 32)
    by_path = ModelSpec("/models/smollm2.gguf", "gguf", "/b", "ab" * 32)
    other = ModelSpec("gemma3-270m", "embedded", "/c", "cd" * 32)
    llm = SimpleNamespace(uses_llm=True)
    encoder = SimpleNamespace(
        uses_llm=False, name="sbert", encoder_info=lambda: {"weights_sha256": "ef" * 32}
    )
    assert model_namespace(llm, alias) == model_namespace(llm, by_path) != model_namespace(llm, other)
    assert model_namespace(encoder, alias) == model_namespace(encoder, other) == "encoder-" + "ef" * 6


def test_a_relabelled_record_keeps_its_predictions(tmp_path):
    import numpy as np

    from bench.app.store import ResultKey

    store = ResultStore(tmp_path)
    key = ResultKey("m", "prompteol", "abc", "STS12")
    cosine = np.linspace(0, 1, 5)
    store.write(key, _record("prompteol", "STS12", 50.0), {"cosine": cosine, "gold": cosine})
    store.relabel(key, "prompteol[best]")  # what a run with a new label does
    relabelled = store.read(key)
    assert relabelled.method.label == "prompteol[best]"
    np.testing.assert_array_equal(store.predictions(relabelled)["cosine"], cosine)
    store.write(key, store.read(key).relabelled("sempa[best]"))  # a record rewritten without predictions
    np.testing.assert_array_equal(store.predictions(store.read(key))["cosine"], cosine)
    store.write(key, _record("prompteol", "STS12", 51.0))  # a new result without predictions: the old ones go
    assert not store.predictions_path(key).exists() and store.predictions(store.read(key)) == {}


def _write_same_result(root, worker, rounds):
    import numpy as np

    from bench.app.store import ResultKey

    store, key = ResultStore(root), ResultKey("m", "prompteol", "abc", "STS12")
    for i in range(rounds):
        values = np.full(50, worker * 1000 + i, dtype=np.float64)
        store.write(key, _record("prompteol", "STS12", float(worker * 1000 + i)), {"cosine": values})


def test_two_processes_storing_one_result_at_once_leave_a_matching_pair(tmp_path):
    """Each record's predictions are the ones written with it, whichever writer came last, and a reader
    between the writes never sees one writer's record beside the other's predictions."""
    import multiprocessing

    from bench.app.store import ResultKey

    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_same_result, args=(tmp_path, w, 40)) for w in (1, 2)]
    for writer in writers:
        writer.start()
    store, key, reads = ResultStore(tmp_path), ResultKey("m", "prompteol", "abc", "STS12"), 0
    while any(w.is_alive() for w in writers) or reads == 0:
        if store.exists(key):
            record = store.read(key)
            try:
                values = store.predictions(record)["cosine"]
            except BenchError as exc:
                assert "overwritten by another run" in str(exc)  # read again: allowed, never a mismatch
                continue
            assert values[0] == record.main_score
            reads += 1
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    final = store.read(key)
    assert store.predictions(final)["cosine"][0] == final.main_score and reads > 0
