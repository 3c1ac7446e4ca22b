"""Benchmark: the embedding engine against the reference procedure, measured in one run.

Reference = the full causal LM with ``output_hidden_states=True`` on left-padded batches of 16 in
input order (the LM head runs at every position). Engine = ``prompteol`` through ``EmbeddingEngine``
(body only, length-sorted batches of 16, the shared prompt prefix computed once). Both embed the
same 2,000 *distinct* STS sentences, so de-duplication plays no part in the ratio. Prints
sentences/s of both, the ratio and the smallest cosine between their embeddings; then the int8 lane
against the fp32 engine (speed, cosine to fp32, and the STS-B dev gate), and a second encode of the same
sentences through the persistent embedding cache (a fresh cache file in a temporary folder).

    BENCH_DATA_DIR=../shared/data .venv/bin/python benchmarks/encode.py [--model smollm2-135m] [-n 2000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENCH_NO_PROGRESS", "1")

from bench.core.method import METHODS, RunContext  # noqa: E402
from bench.core.models import load_model, resolve_model  # noqa: E402
from bench.core.options import RuntimeOptions
from bench.core.settings import data_dir  # noqa: E402
from bench.core.sts_data import read_stsb  # noqa: E402


def distinct_sentences(n: int) -> list[str]:
    root = data_dir()
    out: dict[str, None] = {}
    for split in ("test", "dev"):
        pairs = read_stsb(root, split)
        for a, b in zip(pairs.sentences1, pairs.sentences2, strict=True):
            out.setdefault(a)
            out.setdefault(b)
    return list(out)[:n]


def reference_encode(model, tokenizer, texts: list[str], batch_size: int = 16) -> np.ndarray:
    vectors = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start : start + batch_size], padding=True, return_tensors="pt").to(
                model.device
            )
            out = model(**enc, output_hidden_states=True)
            vectors.append(out.hidden_states[-1][:, -1, :].float().cpu().numpy())
    return np.concatenate(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()

    loaded = load_model(resolve_model(args.model))
    method = METHODS.get("prompteol").from_overrides(
        {}, RunContext(options=RuntimeOptions(show_progress=False), load_model=lambda: loaded)
    )
    sentences = distinct_sentences(args.n)
    prompts = [method.render(s)[0] for s in sentences]
    threads = torch.get_num_threads()
    print(f"model {args.model}, {len(sentences)} distinct STS-B sentences, torch threads {threads}")

    start = time.perf_counter()
    reference = reference_encode(loaded.model, loaded.tokenizer, prompts)
    reference_s = time.perf_counter() - start

    start = time.perf_counter()
    engine = method.encode(sentences)
    engine_s = time.perf_counter() - start

    cosine = (reference * engine).sum(1) / np.linalg.norm(reference, axis=1) / np.linalg.norm(engine, axis=1)
    ref_rate, eng_rate = len(sentences) / reference_s, len(sentences) / engine_s
    print(
        f"reference (full LM, all hidden states, input order): {ref_rate:7.1f} sent/s ({reference_s:.1f} s)"
    )
    print(f"engine    (body only, length-sorted, shared prefix): {eng_rate:7.1f} sent/s ({engine_s:.1f} s)")
    print(f"speed-up: {eng_rate / ref_rate:.2f}x   (target >= 1.5x)")
    print(f"min cosine engine vs reference: {cosine.min():.7f}   (must be > 0.9999)")
    if cosine.min() <= 0.9999:
        raise SystemExit("engine and reference embeddings differ")
    int8_lane(args.model, method, sentences, engine, engine_s)
    cached_encode(method, sentences, engine, engine_s)


def int8_lane(model: str, fp32_method, sentences: list[str], fp32: np.ndarray, fp32_s: float) -> None:
    from bench.app.int8_gate import int8_gate
    from bench.core.quantize import INT8_RECIPE, int8_calibration_texts

    loaded = load_model(resolve_model(model), "cpu", "int8", int8_calibration_texts(data_dir()))
    context = RunContext(options=RuntimeOptions(show_progress=False), load_model=lambda: loaded)
    method = METHODS.get("prompteol").from_overrides({}, context)
    start = time.perf_counter()
    int8 = method.encode(sentences)
    int8_s = time.perf_counter() - start
    cosine = (fp32 * int8).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    kept = ", ".join(INT8_RECIPE.keep_fp32)
    print(f"int8 engine (W8A8, SmoothQuant a={INT8_RECIPE.smoothquant_alpha}; fp32: {kept}): "
          f"{len(sentences) / int8_s:7.1f} sent/s ({int8_s:.1f} s)")  # fmt: skip
    print(f"int8 vs fp32 engine: {fp32_s / int8_s:.2f}x   (target >= 1.8x); cosine to fp32 mean "
          f"{cosine.mean():.4f}, min {cosine.min():.4f}")  # fmt: skip
    options = RuntimeOptions(data_dir=data_dir(), show_progress=False)
    gate = int8_gate(fp32_method, resolve_model(model), options)
    print(f"gate: {gate.summary()} -> {'OPEN' if gate.passed else 'CLOSED'}")


def cached_encode(method, sentences: list[str], fp32: np.ndarray, fp32_s: float) -> None:
    import json
    import tempfile
    from pathlib import Path

    from bench.core.embedding_cache import EmbeddingCache
    from bench.core.memo import CacheNamespace, EmbeddingMemo

    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(Path(folder) / "embeddings.sqlite")
        namespace = CacheNamespace("benchmark", json.dumps({"method": method.name}))
        EmbeddingMemo(lambda s: fp32, cache, lambda: namespace)(sentences)  # what the first run stored
        start = time.perf_counter()
        memo = EmbeddingMemo(method.encode, cache, lambda: namespace)
        again = memo(sentences)
        cached_s = time.perf_counter() - start
    assert memo.encoded == 0 and np.array_equal(again, fp32)
    print(f"second encode from the cache: {cached_s:.3f} s, {fp32_s / cached_s:.0f}x   (target >= 50x)")


if __name__ == "__main__":
    main()
