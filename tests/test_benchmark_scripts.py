"""The accelerator encode benchmark runs end to end on CPU with a tiny shape and checks its own agreement."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "encode_cuda.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env)


def test_encode_cuda_benchmark_smoke_run_on_cpu():
    tiny_cpu = ("--shape", "tiny", "--device", "cpu", "--dtype", "float32")
    done = _run(*tiny_cpu, "-n", "40", "--batch-size", "8", "16")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("device cpu")
    rows = [line for line in lines if line.startswith("batch")]
    assert len(rows) == 2 and all("engine/reference" in row and "min cosine 1.0000" in row for row in rows)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_encode_cuda_benchmark_refuses_a_missing_device():
    done = _run("--shape", "tiny", "--device", "cuda", "-n", "8")
    assert done.returncode != 0 and "no CUDA device" in done.stderr
