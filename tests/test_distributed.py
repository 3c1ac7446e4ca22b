"""Two processes under ``accelerate launch`` (gloo on the CPU) give the one-process results: the same
embeddings, the same loss and dev curves, and the same LoRA weights after training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.core.distributed import (
    Ranks,
    decided_by_main,
    launched,
    main_process_first,
    ranks,
    sum_across_processes,
)

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed_worker.py"
# accelerate's --cpu launch starts one process without MPI; --multi_gpu starts torchrun, and the worker's
# PartialState(cpu=True) (no GPU here) joins a gloo group
LAUNCH = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip


def _worker(args: list[str], out: Path, model: Path) -> np.lib.npyio.NpzFile:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    done = subprocess.run(
        [sys.executable, *args, str(WORKER), str(model), str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out / "result.npz")


@pytest.fixture(scope="module")
def one_and_two(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    return _worker([], root / "one", tiny_model_dir), _worker(LAUNCH, root / "two", tiny_model_dir)


def test_the_launch_really_ran_two_processes(one_and_two):
    one, two = one_and_two
    assert int(one["processes"]) == 1 and int(two["processes"]) == 2


def test_two_processes_encode_exactly_what_one_encodes(one_and_two):
    one, two = one_and_two
    for name in ("vectors", "mean_pooled"):  # each process encodes whole batches: identical arithmetic
        np.testing.assert_array_equal(one[name], two[name])


def test_two_processes_train_the_one_process_model(one_and_two):
    """Same effective batch (6 examples a step in micro-batches of 2, the last step 1 example, so one
    process has none):
    loss curve within 1e-5 relative, dev curve equal, LoRA weights within 1e-4 absolute (the gradient is
    summed in a different order; Adam's normalisation amplifies that rounding in the smallest entries,
    while the weights themselves move by about 1e-2 in these 3 steps)."""
    one, two = one_and_two
    np.testing.assert_allclose(one["losses"], two["losses"], rtol=1e-5)
    # in-batch negatives: each process takes whole micro-batches, so the negatives are the same
    np.testing.assert_allclose(one["contrastive_losses"], two["contrastive_losses"], rtol=1e-5)
    np.testing.assert_allclose(one["dev"], two["dev"], atol=1e-6)
    lora = [k for k in one.files if k.startswith("lora/")]
    assert lora and sorted(lora) == sorted(k for k in two.files if k.startswith("lora/"))
    moved = max(float(np.abs(one[k]).max()) for k in lora if k.endswith("lora_B.default.weight"))
    assert moved > 1e-3  # training changed the weights (lora_B starts at zero), so the match means something
    for key in lora:
        np.testing.assert_allclose(one[key], two[key], atol=1e-4, err_msg=key)


def test_one_process_is_the_identity():
    assert not launched() and ranks() == Ranks(0, 1, 0) and ranks().is_main
    assert sum_across_processes({"loss": 1.5}) == {"loss": 1.5}
    assert decided_by_main(lambda: "stored") == "stored" and main_process_first(lambda: 3) == 3


def test_every_process_gets_every_nth_item():
    items = list(range(7))
    shares = [Ranks(i, 3).share(items) for i in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(x for share in shares for x in share) == items


def _bench_run(launch: list[str], model: Path, data: Path, root: Path) -> subprocess.CompletedProcess:
    args = ["run", "--methods", "prompteol,sempa", "--tasks", "STSBenchmark,STS12", "--limit", "8",
            "--train-samples", "12", "--model", str(model), "--data-dir", str(data),
            "--out", str(root / "out"),
            "--set", "sempa.heldout=2", "--set", "sempa.grad_accum=2", "--set", "sempa.train_batch_size=3",
            "--set", "sempa.dev_pairs=6", "--set", "sempa.eval_every=1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "BENCH_NO_PROGRESS": "1",
           "BENCH_CACHE": str(root / "cache")}  # fmt: skip
    env.pop("WORLD_SIZE", None)
    module = ["-m", "bench.cli"] if not launch else [*launch, "-m", "bench.cli"]
    return subprocess.run([sys.executable, *module, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)  # fmt: skip


def test_bench_run_under_accelerate_launch_stores_the_one_process_results_once(
    tiny_model_dir, tiny_nli_data, tmp_path
):
    one = _bench_run([], tiny_model_dir, tiny_nli_data, tmp_path / "one")
    two = _bench_run(LAUNCH, tiny_model_dir, tiny_nli_data, tmp_path / "two")
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("STSBenchmark") == one.stdout.count("STSBenchmark")  # one process showed it
    results = {}
    for name in ("one", "two"):
        files = sorted((tmp_path / name / "out" / "runs").glob("*/*/*.npz"))
        results[name] = {(p.parent.name.split("-")[0], p.name.split(".")[0]): np.load(p)["cosine"]
                         for p in files}  # fmt: skip
        adapters = [p for p in (tmp_path / name / "cache" / "adapters").glob("*/sempa-*")]
        assert len(adapters) == 1 and not adapters[0].name.endswith(".partial")
    assert sorted(results["one"]) == sorted(results["two"]) and len(results["one"]) == 4
    for key, cosine in results["one"].items():
        np.testing.assert_allclose(cosine, results["two"][key], atol=1e-4, err_msg=str(key))
    assert not list((tmp_path / "two" / "out").rglob(".*.tmp"))


def test_the_gen_suite_is_refused_inside_a_launch(tiny_model_dir, tmp_path):
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "BENCH_NO_PROGRESS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", "--methods", "prompteol", "--suite", "gen",
         "--model", str(tiny_model_dir), "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0 and "gen suite runs in one process" in done.stderr
    assert "Traceback" not in done.stderr
