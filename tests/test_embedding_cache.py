"""The persistent embedding cache: round trip, namespaces, two writers at once, kill-safety, and a second
run that encodes nothing."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3

import numpy as np

from bench.core.embedding_cache import EmbeddingCache
from bench.core.memo import CacheNamespace, EmbeddingMemo
from tests.test_cli import bench


def test_vectors_round_trip_per_namespace(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    cache.put("a", "{}", ["x", "y", "z"], vectors)
    got = cache.get("a", ["z", "x", "missing", "z"])
    assert set(got) == {"x", "z"}
    np.testing.assert_array_equal(got["z"], vectors[2])
    assert cache.get("b", ["x"]) == {}
    cache.put("a", "{}", ["x"], np.full((1, 2), 9, dtype=np.float32))  # existing rows are kept
    np.testing.assert_array_equal(cache.get("a", ["x"])["x"], vectors[0])
    (entry,) = cache.summary()
    assert (entry.namespace, entry.dim, entry.vectors) == ("a", 2, 3)
    assert cache.clear("a") == 3 and cache.summary() == []


def test_the_memo_encodes_only_what_the_cache_lacks(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    calls = []

    def encode(sentences):
        calls.append(list(sentences))
        return np.array([[len(s), 1.0] for s in sentences], dtype=np.float32)

    namespace = CacheNamespace("ns", json.dumps({"method": "m"}))
    first = EmbeddingMemo(encode, cache, lambda: namespace)
    first(["a", "bb"])
    second = EmbeddingMemo(encode, cache, lambda: namespace)
    out = second(["bb", "ccc", "a"])
    assert calls == [["a", "bb"], ["ccc"]]
    assert (second.encoded, second.from_cache) == (1, 2)
    np.testing.assert_array_equal(out[:, 0], [2, 3, 1])
    uncached = EmbeddingMemo(encode, cache, lambda: None)  # a method that cannot be keyed
    uncached(["a"])
    assert calls[-1] == ["a"] and uncached.from_cache == 0


def _writer(path, worker, barrier, errors):
    try:
        barrier.wait()  # every writer opens the (not yet existing) file at the same moment
        cache = EmbeddingCache(path)
        for batch in range(5):
            cache.get("shared", ["s0"])  # a read between writes: the snapshot a stale writer would hold
            sentences = [f"s{i}" for i in range(batch * 10, batch * 10 + 10)]
            cache.put("shared", "{}", sentences, np.full((10, 4), worker, dtype=np.float32))
        errors.put("")
    except Exception as exc:  # reported to the test, which names it
        errors.put(repr(exc))


def test_processes_creating_and_writing_the_cache_at_once_get_no_errors_or_torn_rows(tmp_path):
    # before writes took the lock up front, about one start in fifteen failed with "database is locked"
    context = multiprocessing.get_context("fork")
    for trial in range(15):
        path = tmp_path / f"c{trial}.sqlite"
        barrier, errors = context.Barrier(6), context.Queue()
        workers = [context.Process(target=_writer, args=(path, w, barrier, errors)) for w in range(1, 7)]
        for worker in workers:
            worker.start()
        reported = [errors.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(120)
        assert [r for r in reported if r] == [], f"trial {trial}"
        got = EmbeddingCache(path).get("shared", [f"s{i}" for i in range(50)])
        assert len(got) == 50
        assert all(np.all(v == v[0]) and 1 <= v[0] <= 6 for v in got.values())  # every row from one writer


def test_a_write_cut_short_leaves_the_last_committed_state(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = EmbeddingCache(path)
    cache.put("ns", "{}", ["kept"], np.ones((1, 2), dtype=np.float32))
    db = sqlite3.connect(path)
    db.execute("BEGIN")
    db.execute("INSERT INTO vectors VALUES ('ns', 'torn', x'00')")
    db.close()  # no commit: as if the process died mid-transaction
    assert set(cache.get("ns", ["kept", "torn"])) == {"kept"}


def test_a_second_run_reads_every_vector_from_the_cache(tiny_model_dir, tiny_data, tmp_path, cache_env):
    args = ["run", "--methods", "prompteol,mean", "--model", str(tiny_model_dir),
            "--data-dir", str(tiny_data), "--tasks", "STSBenchmark,SICK-R"]  # fmt: skip
    first = bench(*args, "--out", str(tmp_path / "one"))
    assert first.returncode == 0, first.stderr
    second = bench(*args, "--out", str(tmp_path / "two"))
    assert second.returncode == 0, second.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "two").rglob("*.json") if "runs" in p.parts]
    assert records and all(r["timing"]["encoded_sentences"] == 0 for r in records)
    assert all(r["timing"]["cached_sentences"] > 0 or r["task"] == "SICK-R" for r in records)
    scores = {(r["method"]["name"], r["task"]): r["main_score"] for r in records}
    before = [json.loads(p.read_text()) for p in (tmp_path / "one").rglob("*.json") if "runs" in p.parts]
    assert scores == {(r["method"]["name"], r["task"]): r["main_score"] for r in before}
    no_cache = bench(*args, "--out", str(tmp_path / "three"), "--no-cache")
    assert no_cache.returncode == 0
    fresh = [json.loads(p.read_text()) for p in (tmp_path / "three").rglob("*.json") if "runs" in p.parts]
    assert all(r["timing"]["encoded_sentences"] > 0 or r["task"] == "SICK-R" for r in fresh)
    listing = bench("cache")
    assert listing.returncode == 0 and "prompteol" in listing.stdout and "mean" in listing.stdout


def test_ensemble_members_share_the_cache_with_their_own_rows(tiny_model_dir, tiny_data, tmp_path, cache_env):
    args = ["--model", str(tiny_model_dir), "--data-dir", str(tiny_data), "--tasks", "STSBenchmark"]
    ensemble = bench("run", "--methods", "ck", *args, "--out", str(tmp_path / "ck"))
    assert ensemble.returncode == 0, ensemble.stderr
    members = bench("run", "--methods", "pretcot,ke", *args, "--out", str(tmp_path / "members"))
    assert members.returncode == 0, members.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "members").rglob("*.json") if "runs" in p.parts]
    assert sorted(r["method"]["name"] for r in records) == ["ke", "pretcot"]
    assert all(r["timing"]["encoded_sentences"] == 0 and r["timing"]["cached_sentences"] > 0 for r in records)
