"""Benchmark: the embedding engine against the reference procedure, measured in one run.

Reference = the full causal LM with ``output_hidden_states=True`` on left-padded batches of 16 in
input order (the LM head runs at every position). Engine = ``prompteol`` through ``EmbeddingEngine``
(body only, length-sorted batches of 16, the shared prompt prefix computed once). Both embed the
same 2,000 *distinct* STS sentences, so de-duplication plays no part in the ratio. Prints
sentences/s of both, the ratio and the smallest cosine between their embeddings.

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


if __name__ == "__main__":
    main()
