"""A researcher's first hour: stdout/stderr discipline, run files and dry runs, listings, and results
that mteb users can take with them (an export mteb's loaders read, a public mteb encoder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str, cache: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_NO_PROGRESS": "1", "BENCH_CACHE": str(cache), "COLUMNS": "80"},
        cwd=ROOT,
        timeout=300,
        input=stdin,
    )


def _common(model: Path, data: Path, out: Path) -> list[str]:
    return ["--model", str(model), "--data-dir", str(data), "--out", str(out)]


def test_listings_go_to_stdout_and_can_be_filtered(tmp_path):
    proc = bench("ls", "sempa", cache=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "sempa-pl" in proc.stdout and "lora_r: int = 8 (>= 1)" in proc.stdout
    assert "prompteol " not in proc.stdout  # filtered: only names containing 'sempa'
    grep = subprocess.run(["grep", "-c", "sempa"], input=proc.stdout, capture_output=True, text=True)
    assert int(grep.stdout) >= 2
    version = bench("--version", cache=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("bench (sempa-bench) ")
    helps = bench("run", "--help", cache=tmp_path)
    assert "examples:" in helps.stdout and "--config configs/demo.yaml --dry-run" in helps.stdout


def test_a_run_prints_tables_on_stdout_and_whole_paths_on_stderr(tiny_model_dir, tiny_data, tmp_path):
    out = tmp_path / ("a-results-folder-with-a-long-name-" + "x" * 60)  # longer than 80 columns
    proc = bench("run", "--methods", "mean", "--tasks", "STSBenchmark,STS12",
                 *_common(tiny_model_dir, tiny_data, out), cache=tmp_path / "cache")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "STS-B" in proc.stdout and "mean" in proc.stdout  # the table: stdout
    assert "STS-B" not in proc.stderr.replace("STSBenchmark", "")
    [line] = [x for x in proc.stderr.splitlines() if "/ STSBenchmark:" in x]
    assert str(out / "runs") in line  # not wrapped: the whole path on the line that names the result
    assert line.startswith("[") and "/2]" in line  # position in the whole run
    table = bench("table", "--out", str(out), cache=tmp_path / "cache")
    assert table.returncode == 0 and "mean" in table.stdout and "mean" not in table.stderr
    listing = bench("results", "--out", str(out), cache=tmp_path / "cache")
    assert listing.returncode == 0 and listing.stdout.count("mean") == 2
    quiet = bench("run", "--methods", "mean", "--tasks", "STSBenchmark", "--quiet",
                  *_common(tiny_model_dir, tiny_data, out), cache=tmp_path / "cache")  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == "" and "mean" in quiet.stdout


def test_a_run_file_equals_the_same_run_from_flags(tiny_model_dir, tiny_data, tmp_path):
    run_file = tmp_path / "run.yaml"
    run_file.write_text(
        "methods: [prompteol, mean]\n"
        "tasks: [STSBenchmark]\n"
        "limit: 10\n"
        f"model: {tiny_model_dir}\n"
        "settings:\n"
        "  prompteol: {layer: -2}\n"
    )
    cache = tmp_path / "cache"
    from_file = bench("run", "--config", str(run_file), "--data-dir", str(tiny_data),
                      "--out", str(tmp_path / "a"), cache=cache)  # fmt: skip
    from_flags = bench("run", "--methods", "prompteol,mean", "--tasks", "STSBenchmark", "--limit", "10",
                       "--set", "prompteol.layer=-2", *_common(tiny_model_dir, tiny_data, tmp_path / "b"),
                       cache=cache)  # fmt: skip
    assert from_file.returncode == 0 and from_flags.returncode == 0, from_file.stderr + from_flags.stderr
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "runs").rglob("*.json"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "runs").rglob("*.json"))
    assert files_a == files_b and len(files_a) == 2
    for rel in files_a:
        a, b = (json.loads((tmp_path / root / rel).read_text()) for root in ("a", "b"))
        assert a["main_score"] == b["main_score"]
        assert a["run_config"]["config_file"] == str(run_file) and b["run_config"]["config_file"] is None
        assert a["run_config"]["settings"] == b["run_config"]["settings"] == ["prompteol.layer=-2"]
    # `bench table --config` shows that run file's rows only: not another prompteol config stored beside them
    other = bench("run", "--methods", "prompteol", "--tasks", "STSBenchmark", "--limit", "10",
                  *_common(tiny_model_dir, tiny_data, tmp_path / "b"), cache=cache)  # fmt: skip
    assert other.returncode == 0, other.stderr
    everything = bench("table", "--out", str(tmp_path / "b"), cache=cache)
    only_file = bench("table", "--config", str(run_file), "--data-dir", str(tiny_data), "--out",
                      str(tmp_path / "b"), cache=cache)  # fmt: skip
    assert only_file.returncode == 0, only_file.stderr
    assert "prompteol " in everything.stdout and "prompteol[layer=-2]" in everything.stdout
    assert "prompteol " not in only_file.stdout and "prompteol[layer=-2]" in only_file.stdout
    assert "mean" in only_file.stdout and "not stored yet" not in only_file.stderr
    # a flag overrides the file, --set adds to it
    override = bench("run", "--config", str(run_file), "--limit", "8", "--set", "prompteol.layer=-1",
                     "--data-dir", str(tiny_data), "--out", str(tmp_path / "c"), "--dry-run",
                     cache=cache)  # fmt: skip
    assert override.returncode == 0, override.stderr
    assert (
        "prompteol " in override.stdout and "prompteol[" not in override.stdout and " 8 " in override.stdout
    )


def test_narrowing_a_run_file_drops_its_settings_for_methods_left_out(tmp_path):
    demo = ROOT / "configs" / "demo.yaml"
    proc = bench("run", "--config", str(demo), "--methods", "prompteol", "--model", "./no/model",
                 "--out", str(tmp_path / "o"), "--dry-run", cache=tmp_path)  # fmt: skip
    assert "train-samples" not in proc.stderr and "--set" not in proc.stderr  # nothing the user did not type
    assert "not found" in proc.stderr  # and the plan then needs a real model to name its results


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("methods: [prompteol]\nlimt: 5\n", "unknown key 'limt'; did you mean 'limit'?"),
        ("methods: prompteol\nseeds: [1, 1]\n", "'seeds' must be distinct"),
        ("- a\n- b\n", "must be a mapping"),
        ("methods: [prompteol\n", "not valid YAML"),
        ("methods: [prompteol]\nsettings: {prompteol: 3}\n", "settings of 'prompteol' must map"),
    ],
)
def test_bad_run_files_are_one_line_errors(content, message, tmp_path):
    run_file = tmp_path / "run.yaml"
    run_file.write_text(content)
    proc = bench("run", "--config", str(run_file), "--data-dir", str(tmp_path), cache=tmp_path)
    assert proc.returncode == 2
    assert (
        proc.stderr.count("bench: error:") == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    )


def test_dry_run_and_config_typos_load_no_model(tiny_data, tmp_path):
    gguf = tmp_path / "stand-in.gguf"  # not a real GGUF: converting it would fail loudly
    gguf.write_bytes(b"not a gguf file")
    cache = tmp_path / "cache"
    common = [
        "--tasks",
        "STSBenchmark",
        "--model",
        str(gguf),
        "--data-dir",
        str(tiny_data),
        "--out",
        str(tmp_path / "o"),
    ]
    typo = bench("run", "--methods", "prompteol", "--set", "prompteol.layr=3", *common, cache=cache)
    assert typo.returncode == 2 and "no field 'layr'" in typo.stderr and "gguf" not in typo.stderr.lower()
    plan = bench("run", "--methods", "prompteol,mean", *common, "--dry-run", cache=cache)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.count("│ compute") == 2 and "2 results: 0 stored, 2 to compute" in plan.stdout
    assert "no stored timings to estimate from" in plan.stdout
    assert not (cache / "models").exists()  # nothing converted
    assert not (tmp_path / "o" / "runs").exists() or not list((tmp_path / "o" / "runs").rglob("*.json"))


def test_export_is_read_back_by_mtebs_own_loaders(tiny_model_dir, tiny_data, tmp_path):
    import mteb

    out, cache = tmp_path / "out", tmp_path / "cache"
    run = bench("run", "--methods", "mean,prompteol", "--tasks", "STSBenchmark,STS12",
                *_common(tiny_model_dir, tiny_data, out), cache=cache)  # fmt: skip
    assert run.returncode == 0, run.stderr
    exported = bench(
        "export", "--format", "mteb", "--to", str(tmp_path / "mteb"), "--out", str(out), cache=cache
    )
    assert exported.returncode == 0, exported.stderr
    paths = [Path(line) for line in exported.stdout.split()]
    assert len(paths) == 4
    stored = {
        (r["method"]["name"], r["task"]): r["main_score"]
        for r in (json.loads(p.read_text()) for p in out.glob("runs/*/*/*.json"))
    }
    one = mteb.TaskResult.from_disk(paths[0])
    assert one.task_name.startswith("bench-")
    results = mteb.ResultCache(cache_path=tmp_path / "mteb").load_results(include_remote=False)
    loaded = {
        (model.model_name, task.task_name): task.get_score()
        for model in results.model_results
        for task in model.task_results
    }
    assert len(loaded) == 4
    for (method, task), score in stored.items():
        [(name, value)] = [
            (k, v) for k, v in loaded.items() if k[1] == f"bench-{task}" and f"-{method}" in k[0]
        ]
        assert value == pytest.approx(score / 100)


def test_the_public_mteb_encoder_runs_in_mtebs_own_evaluate(tiny_model_dir, tiny_data, cache_env):
    import mteb

    from bench.app.interop import mteb_model
    from bench.core.method import METHODS, RunContext
    from bench.core.models import load_model, resolve_model
    from suites.sts import STS_TASKS, mteb_task

    spec = STS_TASKS["STSBenchmark"]
    pairs = spec.read(tiny_data)
    encoder = mteb_model("prompteol", model=str(tiny_model_dir), device="cpu")
    result = mteb.evaluate(encoder, mteb_task(spec, pairs), cache=None, show_progress_bar=False)
    score = result.task_results[0].scores["test"][0]["cosine_spearman"]
    loaded = load_model(resolve_model(str(tiny_model_dir)), device="cpu")
    method = METHODS.get("prompteol").from_overrides({}, RunContext(load_model=lambda: loaded))
    a, b = method.encode(pairs.sentences1), method.encode(pairs.sentences2)
    cosines = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    from scipy.stats import spearmanr

    assert score == pytest.approx(spearmanr(cosines, pairs.scores)[0], abs=1e-6)
    assert encoder.mteb_model_meta.name.startswith("sempa-bench/")


SHARED_DATA = Path(os.environ.get("BENCH_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.mark.skipif(not (SHARED_DATA / "arc").is_dir(), reason="needs the shared ARC data")
def test_a_trained_adapter_runs_in_lm_eval_offline_with_the_readme_line(
    tiny_model_dir, tiny_nli_data, tmp_path
):
    cache = tmp_path / "cache"
    trained = bench("run", "--methods", "sempa", "--tasks", "STSBenchmark", "--limit", "8",
                    "--train-samples", "8", "--set", "sempa.heldout=2", "--set", "sempa.grad_accum=1",
                    "--set", "sempa.train_batch_size=4", "--set", "sempa.dev_pairs=6",
                    *_common(tiny_model_dir, tiny_nli_data, tmp_path / "out"), cache=cache)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    [adapter] = cache.glob("adapters/*/sempa-*/adapter")
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == tiny_model_dir.name  # a name, not a path into this cache
    tasks = subprocess.run(
        [sys.executable, "-m", "bench.cli", "task-path", "arc_easy", "--data-dir", str(SHARED_DATA)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "BENCH_CACHE": str(cache)},
    )  # fmt: skip
    assert tasks.returncode == 0, tasks.stderr
    lm_eval = Path(sys.executable).with_name("lm_eval")
    proc = subprocess.run(
        [str(lm_eval), "--model", "hf", "--model_args", f"pretrained={tiny_model_dir},peft={adapter}",
         "--include_path", tasks.stdout.strip(), "--tasks", "arc_easy", "--limit", "3", "--device", "cpu"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "arc_easy" in proc.stdout and "acc_norm" in proc.stdout


def test_dependency_tqdm_bars_are_off_in_logs_but_a_users_setting_wins(monkeypatch):
    import io

    from bench.core import quiet

    monkeypatch.setattr(quiet.sys, "stderr", io.StringIO())  # a log file, not a terminal
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    quiet.silence_dependencies()
    assert os.environ["TQDM_DISABLE"] == "1"
    monkeypatch.setenv("TQDM_DISABLE", "0")
    quiet.silence_dependencies()
    assert os.environ["TQDM_DISABLE"] == "0"
