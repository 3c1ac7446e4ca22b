"""The ``bench`` command through a subprocess: exit codes and one-line messages for bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str, env: dict | None = None, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "BENCH_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=300,
        **kw,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("bench: error:")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_ls_lists_methods_and_suites():
    proc = bench("ls", env={"COLUMNS": "200"})
    assert proc.returncode == 0
    for name in ("prompteol", "pretcot", "ke", "echo", "mean", "sbert", "sts-dev", "STSBenchmark-dev"):
        assert name in proc.stderr + proc.stdout


def test_unknown_method_and_suite(tiny_model_dir, tiny_data, tmp_path):
    common = ["--model", str(tiny_model_dir), "--data-dir", str(tiny_data), "--out", str(tmp_path)]
    assert_one_line_error(
        bench("run", "--methods", "promteol", *common), "unknown method 'promteol'", "did you mean prompteol"
    )
    assert_one_line_error(
        bench("run", "--methods", "mean", "--suite", "stss", *common),
        "unknown suite 'stss'",
        "did you mean sts",
    )
    assert_one_line_error(
        bench("run", "--methods", "mean", "--tasks", "STS99", *common), "unknown task 'STS99'"
    )


def test_missing_data_directory(tiny_model_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "BENCH_DATA_DIR"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", "--methods", "mean", "--model", str(tiny_model_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert_one_line_error(proc, "no data directory", "BENCH_DATA_DIR")
    assert_one_line_error(
        bench("run", "--methods", "mean", "--data-dir", str(tmp_path / "nope")), "does not exist"
    )


def test_malformed_data_file_is_named(tiny_model_dir, tiny_data, tmp_path, cache_env):
    gold = tiny_data / "sts" / "raw" / "STS13-en-test" / "STS.gs.headlines.txt"
    lines = gold.read_text().splitlines()
    lines[3] = "n/a"
    gold.write_text("\n".join(lines) + "\n")
    proc = bench(
        "run",
        "--methods",
        "mean",
        "--tasks",
        "STS13",
        "--model",
        str(tiny_model_dir),
        "--data-dir",
        str(tiny_data),
        "--out",
        str(tmp_path / "out"),
        env={"BENCH_CACHE": str(cache_env)},
    )
    assert_one_line_error(proc, "STS.gs.headlines.txt:4", "'n/a'")


def test_bad_models(tiny_data, tmp_path):
    common = ["--methods", "mean", "--data-dir", str(tiny_data), "--out", str(tmp_path)]
    assert_one_line_error(bench("run", *common, "--model", "./no/such/dir"), "not found")
    assert_one_line_error(bench("run", *common, "--model", str(tmp_path / "x.gguf")), "x.gguf not found")
    weird = tmp_path / "weights.txt"
    weird.write_text("nothing")
    assert_one_line_error(bench("run", *common, "--model", str(weird)), "unsupported model file")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    assert_one_line_error(bench("run", *common, "--model", str(empty)), "has no config.json")
    assert_one_line_error(
        bench("run", *common, "--model", "smolm2-135m"),
        "cannot load model 'smolm2-135m'",
        "did you mean smollm2-135m",
    )


def test_bad_settings(tiny_model_dir, tiny_data, tmp_path):
    common = [
        "--methods",
        "mean",
        "--model",
        str(tiny_model_dir),
        "--data-dir",
        str(tiny_data),
        "--out",
        str(tmp_path),
    ]
    assert_one_line_error(bench("run", *common, "--set", "mean.lyer=2"), "no field 'lyer'")
    assert_one_line_error(bench("run", *common, "--set", "layer"), "--set expects")
    assert_one_line_error(bench("run", *common, "--limit", "-1"), "--limit must be")
    assert_one_line_error(bench("run", *common, "--train-samples", "100"), "trained methods only")
    sempa = [*common[:1], "sempa", *common[2:]]
    assert_one_line_error(bench("run", *sempa, "--set", "sempa.paraphrase_prompt=P9"), "not one of P1")


def test_run_then_table(tiny_model_dir, tiny_data, tmp_path, cache_env):
    out = tmp_path / "out"
    proc = bench(
        "run",
        "--methods",
        "prompteol,mean",
        "--tasks",
        "STS12,STSBenchmark",
        "--limit",
        "6",
        "--model",
        str(tiny_model_dir),
        "--data-dir",
        str(tiny_data),
        "--out",
        str(out),
        "--set",
        "mean.layer=-2",
        env={"BENCH_CACHE": str(cache_env), "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "mean[layer=-2]" in proc.stdout and "Avg" in proc.stdout  # the table: data on stdout
    assert "first 6 examples of each task" in " ".join(proc.stdout.split())  # the table names the limit
    assert "Loading weights" not in proc.stderr  # no dependency progress noise
    stem = f"{tiny_model_dir.name}-sts-first6"
    csv = (out / "tables" / f"{stem}.csv").read_text()
    assert csv.splitlines()[0] == "method,STS12,STS-B,Avg"
    for ext in ("csv", "tex", "md"):
        (out / "tables" / f"{stem}.{ext}").unlink()
    proc = bench("table", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "tables" / f"{stem}.csv").read_text() == csv
    assert_one_line_error(bench("table", "--out", str(tmp_path / "empty")), "no stored results")
    # a later run of one method rewrites the table files from every stored result, not just its own
    again = bench("run", "--methods", "echo", "--tasks", "STS12", "--limit", "6",
                  "--model", str(tiny_model_dir), "--data-dir", str(tiny_data), "--out", str(out),
                  env={"BENCH_CACHE": str(cache_env)})  # fmt: skip
    assert again.returncode == 0, again.stderr
    rows = [line.split(",")[0] for line in (out / "tables" / f"{stem}.csv").read_text().splitlines()[1:]]
    assert {"prompteol", "mean[layer=-2]", "echo"} <= set(rows)
    # paired comparisons with a baseline: console, long CSV and the two-row report
    proc = bench("table", "--out", str(out), "--baseline", "prompteol", "--resamples", "500",
                 env={"COLUMNS": "250"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Δ vs prompteol" in proc.stdout
    long = pd.read_csv(out / "tables" / f"{stem}-long.csv")
    echo = long[(long["row"] == "echo") & (long["task"] == "STS12")].iloc[0]
    assert echo["baseline"] == "prompteol" and echo["ci_low"] <= echo["delta"] <= echo["ci_high"]
    assert 0 < echo["p"] <= 1 and echo["p_holm"] >= echo["p"]
    assert long[long["row"] == "prompteol"]["delta"].isna().all()
    proc = bench(
        "compare", "echo", "prompteol", "--out", str(out), "--resamples", "500", env={"COLUMNS": "250"}
    )
    assert proc.returncode == 0, proc.stderr
    assert "Williams" in proc.stdout and "STS12" in proc.stdout and "average" in proc.stdout
    assert_one_line_error(bench("compare", "nosuch", "prompteol", "--out", str(out)), "no stored results")
    assert_one_line_error(bench("table", "--out", str(out), "--resamples", "5"), "--resamples")


def _run_args(tiny_model_dir, tiny_data, out) -> list[str]:
    return ["run", "--methods", "prompteol,mean,echo", "--model", str(tiny_model_dir),
            "--data-dir", str(tiny_data), "--out", str(out)]  # fmt: skip


# The CLI with every encode call slowed by 0.5 s: the tiny run would otherwise finish before the signal
# reaches it (a race the test must not depend on).
SLOW_CLI = (
    "import sys, time, bench.core.engine as engine\n"
    "encode = engine.EmbeddingEngine.encode\n"
    "def slow(self, *args, **kwargs):\n"
    "    time.sleep(0.5)\n"
    "    return encode(self, *args, **kwargs)\n"
    "engine.EmbeddingEngine.encode = slow\n"
    "from bench.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _start_run(tiny_model_dir, tiny_data, out, cache_env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_CLI, *_run_args(tiny_model_dir, tiny_data, out)],
        env={**os.environ, "BENCH_NO_PROGRESS": "1", "BENCH_CACHE": str(cache_env)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_first_result(proc: subprocess.Popen, runs: Path) -> None:
    deadline = time.time() + 240
    while not list(runs.glob("*/*/*.json")):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.time() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_leaves_no_partial_result_and_resumes(
    tiny_model_dir, tiny_data, tmp_path, cache_env, sig
):
    out = tmp_path / "out"
    proc = _start_run(tiny_model_dir, tiny_data, out, cache_env)
    _wait_for_first_result(proc, out / "runs")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted" in stderr
    done = list((out / "runs").glob("*/*/*.json"))
    assert 1 <= len(done) < 21
    for path in done:
        assert path.read_text().rstrip().endswith("}")  # complete JSON, never half-written
    first = {p: p.stat().st_mtime_ns for p in done}
    resumed = bench(*_run_args(tiny_model_dir, tiny_data, out), env={"BENCH_CACHE": str(cache_env)})
    assert resumed.returncode == 0, resumed.stderr
    assert len(list((out / "runs").glob("*/*/*.json"))) == 21
    assert not list((out / "runs").glob("*/*/.*.tmp"))
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())  # finished results were reused


def _stored(label: str, name: str):
    from types import SimpleNamespace

    method = SimpleNamespace(label=label, name=name)
    return SimpleNamespace(method=method, details={"predictions": [1.0]}, model_namespace="m", limit=None)


def test_compare_picks_the_row_whose_label_is_the_name_before_rows_of_the_same_method():
    from bench.cli import _select_row
    from bench.core.errors import BenchError

    plain, variant = _stored("ck+cp", "ck+cp"), _stored("ck+cp[layer=-1]", "ck+cp")
    records = [variant, plain, _stored("ke", "ke")]
    assert _select_row(records, "ck+cp", None) == [plain]
    assert _select_row(records, "ck+cp[layer=-1]", None) == [variant]
    with pytest.raises(BenchError, match="matches several rows"):
        _select_row([variant, _stored("ck+cp[layer=-2]", "ck+cp")], "ck+cp", None)
