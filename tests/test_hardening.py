"""Crash safety and degenerate cases: kill -9 while tables are written and while a model is converted,
two runs on one results folder, damaged caches, zombie workers, over-long sentences, collapsed
embeddings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.core.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str, cache: Path, code: str | None = None) -> subprocess.CompletedProcess:
    prefix = ["-c", code] if code else ["-m", "bench.cli"]
    return subprocess.run(
        [sys.executable, *prefix, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_NO_PROGRESS": "1", "BENCH_CACHE": str(cache)},
        cwd=ROOT,
        timeout=300,
    )


def _run_args(model: Path, data: Path, out: Path, methods: str, tasks: str) -> list[str]:
    return ["run", "--methods", methods, "--tasks", tasks, "--limit", "8", "--model", str(model),
            "--data-dir", str(data), "--out", str(out)]  # fmt: skip


# --- kill -9 while the table files are written ----------------------------------------------------

# `bench table` that SIGKILLs itself at the N-th fsync: after a temp file got its content, before the
# rename that publishes it; so each N stops the writer at a different table file.
KILL_AT_FSYNC = (
    "import os, signal, sys\n"
    "calls = [0]\n"
    "real = os.fsync\n"
    "def fsync(fd):\n"
    "    calls[0] += 1\n"
    "    if calls[0] == int(os.environ['KILL_AT']):\n"
    "        os.kill(os.getpid(), signal.SIGKILL)\n"
    "    real(fd)\n"
    "os.fsync = fsync\n"
    "from bench.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_kill_during_table_writes_leaves_complete_tables_and_the_next_run_cleans_up(
    tiny_model_dir, tiny_data, tmp_path
):
    cache, out = tmp_path / "cache", tmp_path / "out"
    assert (
        _bench(
            *_run_args(tiny_model_dir, tiny_data, out, "mean,prompteol", "STS12,STS13"), cache=cache
        ).returncode
        == 0
    )
    tables = out / "tables"
    clean = {p.name: p.read_bytes() for p in tables.iterdir()}
    assert len(clean) >= 4
    for kill_at in (1, 2, 3, 4):
        for path in tables.iterdir():
            path.unlink()
        env = {**os.environ, "BENCH_NO_PROGRESS": "1", "BENCH_CACHE": str(cache), "KILL_AT": str(kill_at)}
        proc = subprocess.run(
            [sys.executable, "-c", KILL_AT_FSYNC, "table", "--out", str(out)],
            capture_output=True, text=True, cwd=ROOT, env=env,
        )  # fmt: skip
        assert proc.returncode == -signal.SIGKILL
        written = {p.name: p.read_bytes() for p in tables.iterdir() if not p.name.endswith(".tmp")}
        assert len(written) == kill_at - 1  # the files published before the kill ...
        assert all(clean[name] == data for name, data in written.items())  # ... are complete
        assert len(list(tables.glob(".*.tmp"))) == 1  # the one being written is a temp file
        again = _bench("table", "--out", str(out), cache=cache)
        assert again.returncode == 0, again.stderr
        assert not list(tables.glob(".*.tmp"))
        assert {p.name: p.read_bytes() for p in tables.iterdir()} == clean


# --- kill -9 while a GGUF file is converted; damaged conversions are rebuilt --------------------------

# resolve_model on a stand-in .gguf whose "conversion" loads the tiny model (no real GGUF is needed to
# test the cache); KILL_IN_SAVE makes the process SIGKILL itself half-way (weights saved, tokenizer not).
CONVERT = (
    "import os, signal, sys\n"
    "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
    "tiny = os.environ['TINY_MODEL']\n"
    "load_model, load_tokenizer = AutoModelForCausalLM.from_pretrained, AutoTokenizer.from_pretrained\n"
    "def tokenizer(*args, **kwargs):\n"
    "    tok = load_tokenizer(tiny)\n"
    "    if os.environ.get('KILL_IN_SAVE'):\n"
    "        tok.save_pretrained = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
    "    return tok\n"
    "AutoModelForCausalLM.from_pretrained = lambda *args, **kwargs: load_model(tiny)\n"
    "AutoTokenizer.from_pretrained = tokenizer\n"
    "from bench.core.models import load_model as load, resolve_model\n"
    "spec = resolve_model(sys.argv[1])\n"
    "loaded = load(spec, device='cpu')\n"
    "print(spec.path)\n"
)


def _convert(gguf: Path, tiny: Path, cache: Path, kill: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENCH_CACHE": str(cache), "TINY_MODEL": str(tiny), "BENCH_NO_PROGRESS": "1"}
    if kill:
        env["KILL_IN_SAVE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", CONVERT, str(gguf)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_kill_during_conversion_and_damaged_conversions_are_rebuilt(tiny_model_dir, tmp_path):
    gguf = tmp_path / "stand-in.gguf"
    gguf.write_bytes(b"GGUF stand-in weights")
    cache = tmp_path / "cache"
    killed = _convert(gguf, tiny_model_dir, cache, kill=True)
    assert killed.returncode == -signal.SIGKILL
    models = cache / "models"
    assert [p.name.endswith(".partial") for p in models.iterdir()] == [True]  # nothing that looks finished

    first = _convert(gguf, tiny_model_dir, cache)
    assert first.returncode == 0, first.stderr
    target = Path(first.stdout.strip())
    assert sorted(p.name for p in models.iterdir()) == [target.name]  # the leftover is gone
    assert "damaged" not in first.stderr

    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated (a full disk, an editor)
    rebuilt = _convert(gguf, tiny_model_dir, cache)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (
        "converted model cache" in rebuilt.stderr
        and "damaged" in rebuilt.stderr
        and "bytes" in rebuilt.stderr
    )
    assert (target / "model.safetensors").stat().st_size > 1000

    (target / "bench_source.json").unlink()  # what a conversion killed before it finished leaves out
    again = _convert(gguf, tiny_model_dir, cache)
    assert again.returncode == 0 and "unreadable" in again.stderr

    quiet = _convert(gguf, tiny_model_dir, cache)
    assert quiet.returncode == 0 and "damaged" not in quiet.stderr and "converting" not in quiet.stderr


# --- two runs on one results folder ---------------------------------------------------------------------


def test_two_concurrent_runs_with_overlapping_work_share_one_results_folder(
    tiny_model_dir, tiny_data, tmp_path
):
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {**os.environ, "BENCH_NO_PROGRESS": "1", "BENCH_CACHE": str(cache)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.cli", *_run_args(tiny_model_dir, tiny_data, out, methods, tasks)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )  # fmt: skip
        for methods, tasks in (
            ("mean,prompteol", "STS12,STSBenchmark"),
            ("prompteol,echo", "STSBenchmark,STS13"),
        )
    ]
    outputs = [proc.communicate(timeout=300) for proc in runs]
    assert [proc.returncode for proc in runs] == [0, 0], [err for _, err in outputs]
    results = sorted((out / "runs").glob("*/*/*.json"))
    keys = [(p.parent.name.split("-")[0], p.name.split(".")[0]) for p in results]
    expected = {("mean", "STS12"), ("mean", "STSBenchmark"), ("prompteol", "STS12"),
                ("prompteol", "STSBenchmark"), ("prompteol", "STS13"), ("echo", "STSBenchmark"),
                ("echo", "STS13")}  # fmt: skip
    assert sorted(keys) == sorted(expected)  # every result once, none twice
    assert not list(out.rglob(".*.tmp"))
    for path in results:
        record = json.loads(path.read_text())
        assert path.with_suffix(".npz").is_file() and np.isfinite(record["main_score"])
    alone = tmp_path / "alone"
    assert (
        _bench(
            *_run_args(tiny_model_dir, tiny_data, alone, "prompteol", "STSBenchmark"), cache=cache
        ).returncode
        == 0
    )
    [solo] = alone.glob("runs/*/*/*.json")
    [shared] = [
        p for p in results if p.parent.name.startswith("prompteol") and p.name.startswith("STSBenchmark")
    ]
    assert json.loads(solo.read_text())["main_score"] == json.loads(shared.read_text())["main_score"]


# --- a damaged adapter cache is trained again ----------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    ["adapter_config_garbage", "summary_truncated", "weights_garbage"],
)
def test_a_damaged_cached_adapter_is_trained_again(damage, tiny_model_dir, tiny_nli_data, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["run", "--methods", "sempa", "--tasks", "STSBenchmark", "--limit", "8", "--train-samples", "8",
            "--model", str(tiny_model_dir), "--data-dir", str(tiny_nli_data), "--out", str(out),
            "--set", "sempa.heldout=2", "--set", "sempa.grad_accum=1", "--set", "sempa.train_batch_size=4",
            "--set", "sempa.dev_pairs=6", "--set", "sempa.eval_every=1"]  # fmt: skip
    first = _bench(*args, cache=cache)
    assert first.returncode == 0, first.stderr
    [folder] = [p for p in (cache / "adapters").glob("*/sempa-*") if not p.name.endswith(".partial")]
    score = json.loads(next(out.glob("runs/*/*/*.json")).read_text())["main_score"]
    if damage == "adapter_config_garbage":
        (folder / "adapter" / "adapter_config.json").write_text("{{{")
    elif damage == "summary_truncated":
        summary = folder / "training_summary.json"
        summary.write_text(summary.read_text()[:40])
    else:
        weights = folder / "adapter" / "adapter_model.safetensors"
        weights.write_bytes(os.urandom(weights.stat().st_size))
    again = _bench(*args, "--overwrite", cache=cache)
    assert again.returncode == 0, again.stderr
    assert "is damaged" in again.stderr and "training it again" in again.stderr
    assert json.loads(next(out.glob("runs/*/*/*.json")).read_text())["main_score"] == score  # same seed


# --- processes -----------------------------------------------------------------------------------------


def test_an_exited_child_that_is_not_reaped_yet_is_not_alive():
    from bench.core.processes import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 60
    while Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
        assert time.time() < deadline
        time.sleep(0.01)
    assert not pid_alive(child.pid)  # a zombie: exited, not yet waited for
    child.wait()
    assert not pid_alive(child.pid)
    assert pid_alive(os.getpid())


# --- degenerate inputs inside the suite and the engine -------------------------------------------------


def _pairs(n: int, scores: list[float] | None = None):
    from bench.core.sts_data import STSPairs

    sentences = [f"sentence number {i}" for i in range(n)]
    return STSPairs(sentences, sentences[::-1], scores or [float(i % 5) for i in range(n)], [Path("x.csv")])


def test_unscorable_tasks_and_collapsed_embeddings_are_named_errors():
    from suites.sts import check_predictions, check_scorable

    check_scorable("T", _pairs(3), None)
    with pytest.raises(
        BenchError, match="T: 2 pair\\(s\\) \\(--limit 2\\); a Spearman correlation needs at least 3"
    ):
        check_scorable("T", _pairs(2), 2)
    with pytest.raises(BenchError, match="no scored pairs in x.csv"):
        check_scorable("T", _pairs(0), None)
    with pytest.raises(BenchError, match="every gold score is 1.5"):
        check_scorable("T", _pairs(4, [1.5] * 4), None)
    check_predictions("m", "T", np.array([0.1, 0.2, 0.3]))
    with pytest.raises(BenchError, match="m / T: every pair has the same cosine"):
        check_predictions("m", "T", np.full(5, 0.7))
    with pytest.raises(BenchError, match="2 pair cosine\\(s\\) are not finite"):
        check_predictions("m", "T", np.array([0.1, np.nan, np.inf, 0.2]))


def test_a_constant_encoder_is_refused_by_the_sts_suite(tiny_data):
    from bench.core.suite import Evaluand
    from suites.sts import STS_SUITE

    constant = Evaluand(
        "constant", lambda sentences: np.ones((len(sentences), 4), dtype=np.float32), lambda: None
    )
    with pytest.raises(BenchError, match="constant / STSBenchmark: every pair has the same cosine"):
        STS_SUITE.evaluate(constant, "STSBenchmark", tiny_data, None)


def test_a_sentence_longer_than_the_context_is_truncated_with_a_warning(tiny_loaded, capsys):
    from bench.core.method import METHODS, RunContext

    method = METHODS.get("prompteol").from_overrides({}, RunContext(load_model=lambda: tiny_loaded))
    limit = tiny_loaded.model.config.max_position_embeddings
    long = " ".join(["A man is playing a guitar."] * 200)
    assert len(method.to_item(long).input_ids) > limit
    vectors = method.encode(["The cat sleeps on the sofa.", long])
    assert np.all(np.isfinite(vectors))
    err = capsys.readouterr().err
    assert "1 of 2 sentences are longer than the model's context" in err and str(limit) in err
    fitted = method.fit_to_context(long, limit)
    assert len(method.to_item(fitted).input_ids) <= limit and long.startswith(fitted.strip()[:50])
    assert np.allclose(method.encode([fitted])[0], vectors[1], atol=1e-5)
