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
from bench.core.quantize import INT8_RECIPE, int8_calibration_texts, int8_linear_class, smoothing_scales
from tests.conftest import CORPUS


def _gate(cosine: float, gap: float) -> Int8Gate:
    return Int8Gate("prompteol", "h", "w", 500, cosine, cosine - 0.01, 70.0, 70.0 + gap)


def test_the_gate_opens_only_at_cosine_0999_and_a_spearman_gap_of_at_most_01():
    assert _gate(MIN_COSINE, MAX_SPEARMAN_GAP).passed and _gate(0.9995, -0.05).passed
    assert not _gate(0.9989, 0.0).passed
    assert not _gate(0.9999, 0.11).passed and not _gate(0.9999, -0.11).passed


def _load_int8(spec, data):
    return load_model(spec, "cpu", "int8", int8_calibration_texts(data))


def test_int8_replaces_the_linear_layers_but_the_kept_ones_and_stays_close_to_fp32(tiny_model_dir, tiny_data):
    spec = resolve_model(str(tiny_model_dir))
    fp32, int8 = load_model(spec, "cpu", "float32"), _load_int8(spec, tiny_data)
    assert int8.dtype == "int8" and int8.describe()["int8_recipe"] == INT8_RECIPE.describe()
    assert int8.describe()["num_parameters"] == fp32.describe()["num_parameters"]
    first_layer = int8.model.model.layers[0]
    kinds = {name.rsplit(".", 1)[-1]: type(m) for name, m in first_layer.named_modules()}
    assert kinds["q_proj"] is int8_linear_class() and kinds["up_proj"] is int8_linear_class()
    assert kinds["down_proj"] is torch.nn.Linear

    def encode(loaded):
        context = RunContext(load_model=lambda: loaded, options=RuntimeOptions(show_progress=False))
        return METHODS.get("prompteol").from_overrides({}, context).encode(CORPUS[:6])

    a, b = encode(fp32), encode(int8)
    cosines = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosines.min() > 0.99 and not np.array_equal(a, b)


def test_int8_needs_calibration_sentences(tiny_model_dir):
    with pytest.raises(BenchError, match="calibration"):
        load_model(resolve_model(str(tiny_model_dir)), "cpu", "int8")


def test_smoothing_alone_is_the_same_product():
    torch.manual_seed(0)
    x, w = torch.randn(5, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
    x[:, 3] *= 50  # an outlier channel
    s = smoothing_scales(x.abs().amax(0), w, 0.5)
    assert s[3] == s.max()
    torch.testing.assert_close((x / s) @ (w * s).T, x @ w.T)


def _int8_error(x, w, absmax, alpha):
    linear = torch.nn.Linear(w.shape[1], w.shape[0], bias=True)
    with torch.no_grad():
        linear.weight.copy_(w)
        linear.bias.fill_(0.25)
    layer = int8_linear_class()(linear, smoothing_scales(absmax, w, alpha))
    with torch.no_grad():
        exact, approx = linear(x), layer(x.reshape(2, -1, x.shape[-1])).reshape(x.shape[0], -1)
    return ((approx - exact).norm() / exact.norm()).item()


def test_the_int8_layer_is_close_and_smoothing_tames_an_outlier_channel():
    torch.manual_seed(0)
    w, x = torch.randn(64, 128) * 0.05, torch.randn(32, 128)
    assert _int8_error(x, w, x.abs().amax(0), 0.5) < 0.02
    x[:, 7] *= 100  # one channel carries the large activations, as in LLMs
    plain, smoothed = _int8_error(x, w, x.abs().amax(0), 0.0), _int8_error(x, w, x.abs().amax(0), 0.5)
    assert smoothed < plain / 3


def test_per_token_scales_keep_an_outlier_token_from_flattening_the_others():
    torch.manual_seed(0)
    w, x = torch.randn(64, 128) * 0.05, torch.randn(32, 128)
    x[0] *= 1000  # one token with huge activations (e.g. the first position)
    linear = torch.nn.Linear(128, 64, bias=False)
    with torch.no_grad():
        linear.weight.copy_(w)
        layer = int8_linear_class()(linear, torch.ones(128))
        exact, approx = linear(x[1:]), layer(x)[1:]
    assert ((approx - exact).norm() / exact.norm()).item() < 0.02


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


def test_channel_groups_give_each_group_its_own_scale_per_token():
    torch.manual_seed(0)
    w, x = torch.randn(64, 96) * 0.05, torch.randn(32, 96)
    x[:, 5] *= 200  # an outlier channel in the first of three groups that no smoothing moved ...
    w[:, :32] = 0  # ... whose group does not reach the output: only the other groups' rounding shows
    linear = torch.nn.Linear(96, 64, bias=False)
    with torch.no_grad():
        linear.weight.copy_(w)
        exact = linear(x)
        errors = [
            ((int8_linear_class()(linear, torch.ones(96), groups)(x) - exact).norm() / exact.norm()).item()
            for groups in (1, 3)
        ]
    assert errors[1] < 0.02 < 0.2 < errors[0], errors
