"""The gated int8 lane: dynamic quantization, the gate's verdict, its refusals and where its results go."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.app import runner
from bench.app.int8_gate import MAX_SPEARMAN_GAP, MIN_COSINE, Int8Gate, int8_gate
from bench.app.runner import RunRequest, run
from bench.core.errors import BenchError
from bench.core.method import METHODS, RunContext
from bench.core.models import load_model, resolve_model
from bench.core.options import RuntimeOptions
from tests.conftest import CORPUS


def _gate(cosine: float, gap: float) -> Int8Gate:
    return Int8Gate("prompteol", "h", "w", 500, cosine, cosine - 0.01, 70.0, 70.0 + gap)


def test_the_gate_opens_only_at_cosine_0999_and_a_spearman_gap_of_at_most_01():
    assert _gate(MIN_COSINE, MAX_SPEARMAN_GAP).passed and _gate(0.9995, -0.05).passed
    assert not _gate(0.9989, 0.0).passed
    assert not _gate(0.9999, 0.11).passed and not _gate(0.9999, -0.11).passed


def test_int8_replaces_every_linear_layer_and_stays_close_to_fp32(tiny_model_dir):
    spec = resolve_model(str(tiny_model_dir))
    fp32, int8 = load_model(spec, "cpu", "float32"), load_model(spec, "cpu", "int8")
    assert int8.dtype == "int8"
    assert not any(type(m) is torch.nn.Linear for m in int8.model.model.modules())

    def encode(loaded):
        context = RunContext(load_model=lambda: loaded, options=RuntimeOptions(show_progress=False))
        return METHODS.get("prompteol").from_overrides({}, context).encode(CORPUS[:6])

    a, b = encode(fp32), encode(int8)
    cosines = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosines.min() > 0.9 and not np.array_equal(a, b)


def test_int8_needs_a_cpu(tiny_model_dir):
    with pytest.raises(BenchError, match="CPU lane"):
        load_model(resolve_model(str(tiny_model_dir)), "cuda", "int8")


def test_the_gate_is_measured_once_and_kept(tiny_model_dir, tiny_data, cache_env):
    spec = resolve_model(str(tiny_model_dir))
    options = RuntimeOptions(model=str(tiny_model_dir), data_dir=tiny_data, show_progress=False)
    context = RunContext(load_model=lambda: None, options=options)
    method = METHODS.get("prompteol").from_overrides({}, context)
    gate = int8_gate(method, spec, options)
    assert gate.pairs == 12 and -1 <= gate.min_cosine <= gate.mean_cosine <= 1
    stored = json.loads(next((cache_env / "int8-gates").glob("*.json")).read_text())
    assert stored["mean_cosine"] == gate.mean_cosine
    assert int8_gate(method, spec, options) == gate


def _request(model_dir, data, out, methods=("prompteol",), suites=("sts",)):
    options = RuntimeOptions(model=str(model_dir), data_dir=data, out=out, dtype="int8", show_progress=False)
    return RunRequest(methods=list(methods), suites=list(suites), options=options, tasks=["STSBenchmark"])


def test_an_open_lane_stores_int8_results_apart_and_a_closed_one_refuses(
    tiny_model_dir, tiny_data, tmp_path, cache_env, monkeypatch
):
    monkeypatch.setattr(runner, "int8_gate", lambda method, spec, options, **_: _gate(0.9999, 0.0))
    (key,) = run(_request(tiny_model_dir, tiny_data, tmp_path / "open"))
    assert key.model.endswith("-int8")
    record = json.loads(next((tmp_path / "open" / "runs").rglob("*.json")).read_text())
    assert record["int8_gate"]["mean_cosine"] == 0.9999 and record["model"]["dtype"] == "int8"
    monkeypatch.setattr(runner, "int8_gate", lambda method, spec, options, **_: _gate(0.98, 0.0))
    with pytest.raises(BenchError, match="int8 refused"):
        run(_request(tiny_model_dir, tiny_data, tmp_path / "closed"))
    assert not list((tmp_path / "closed" / "runs").rglob("*.json"))


@pytest.mark.parametrize(
    ("methods", "suites", "message"),
    [(("sempa",), ("sts",), "training-free methods"), (("prompteol",), ("gen",), "embedding suites")],
)
def test_the_lane_refuses_training_and_generation(
    tiny_model_dir, tiny_data, tmp_path, methods, suites, message
):
    request = _request(tiny_model_dir, tiny_data, tmp_path, methods, suites)
    request.tasks = None
    with pytest.raises(BenchError, match=message):
        run(request)
