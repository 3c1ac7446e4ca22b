"""Benchmark: the embedding engine on an accelerator, for a model of LLaMA-2-7B's shape, measured in one run.

No weights reach a GPU machine here, so the model has LLaMA-2-7B's config (32 layers, hidden 4096, MLP
11008, 32 heads, vocabulary 32,000) and random weights: speed does not depend on the values. The inputs are
PromptEOL-shaped token sequences without a tokenizer: a fixed 5-token prefix (``This sentence : "``), a
sentence of 8-47 random tokens (seeded; STS sentences are 10-30 LLaMA tokens on average) and a fixed
7-token suffix (``" means in one word:"``). Reference = the full causal LM with ``output_hidden_states=True``
on left-padded batches in input order (the LM head runs at every position; no key/value cache); engine =
``EmbeddingEngine`` (body only, length-sorted batches, the shared prefix computed once). Both get one
warm-up. Prints the device name, sentences/s of both, the ratio, peak accelerator memory and the smallest
cosine between the two embeddings of each input.

    python benchmarks/encode_cuda.py [--device cuda] [--dtype bfloat16] [-n 4000] [--batch-size 16 64]
    python benchmarks/encode_cuda.py --shape tiny --device cpu --dtype float32 -n 64   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.core.engine import EmbeddingEngine, EncodeItem, Readout  # noqa: E402

SHAPES = {
    "llama2-7b": dict(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096,
    ),
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=512, max_position_embeddings=256,
    ),
}  # fmt: skip
PREFIX_TOKENS, SUFFIX_TOKENS = 5, 7
PAD_ID = 0
# the two readouts must agree this well (bf16 rounding differs with the padding width of a batch)
MIN_COSINE = {torch.float32: 0.9999, torch.bfloat16: 0.999, torch.float16: 0.999}


@dataclass(frozen=True)
class Timing:
    """One encode of all inputs: wall seconds and the embeddings in input order."""

    seconds: float
    vectors: np.ndarray


def random_model(shape: str, device: str, dtype: torch.dtype):
    """A LlamaForCausalLM of the named shape with random weights, built directly on ``device``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**SHAPES[shape], pad_token_id=PAD_ID)
    previous = torch.get_default_dtype()
    torch.manual_seed(0)
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def prompteol_shaped_inputs(n: int, vocab_size: int, seed: int = 0) -> list[EncodeItem]:
    """``n`` distinct token sequences: shared prefix, random sentence, shared suffix."""
    rng = np.random.default_rng(seed)
    prefix = tuple(int(t) for t in rng.integers(1, vocab_size, PREFIX_TOKENS))
    suffix = tuple(int(t) for t in rng.integers(1, vocab_size, SUFFIX_TOKENS))
    items = []
    for _ in range(n):
        sentence = tuple(int(t) for t in rng.integers(1, vocab_size, int(rng.integers(8, 48))))
        items.append(EncodeItem(prefix + sentence + suffix))
    return items


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reference_encode(model, items: list[EncodeItem], batch_size: int, device: str) -> Timing:
    """The straightforward procedure: full LM, all hidden states, left padding, input order."""
    vectors = []
    synchronize(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(items), batch_size):
            rows = [item.input_ids for item in items[first : first + batch_size]]
            width = max(map(len, rows))
            ids = torch.tensor([[PAD_ID] * (width - len(r)) + list(r) for r in rows], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
            vectors.append(out.hidden_states[-1][:, -1, :].float().cpu().numpy())
    synchronize(device)
    return Timing(time.perf_counter() - start, np.concatenate(vectors))


def engine_encode(model, items: list[EncodeItem], batch_size: int, device: str) -> Timing:
    engine = EmbeddingEngine(model, PAD_ID, batch_size=batch_size, show_progress=False)
    synchronize(device)
    start = time.perf_counter()
    vectors = engine.encode(items, Readout(layer=-1, pooling="last"))
    synchronize(device)
    return Timing(time.perf_counter() - start, vectors)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
        return f"{name} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"{device} ({torch.get_num_threads()} torch threads, torch {torch.__version__})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama2-7b")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a smoke run")
    parser.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default="bfloat16")
    parser.add_argument("-n", type=int, default=4000, help="distinct inputs per encode")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch sees no CUDA device on this machine")
    if args.device.startswith("cuda"):
        torch.cuda.set_device(torch.device(args.device))  # synchronize and memory statistics follow it
    dtype = getattr(torch, args.dtype)

    start = time.perf_counter()
    model = random_model(args.shape, args.device, dtype)
    synchronize(args.device)
    params = sum(p.numel() for p in model.parameters()) / 1e9
    print(f"device {device_name(args.device)}")
    print(f"model: {args.shape} shape, random weights, {params:.2f} B parameters, {args.dtype}, "
          f"built in {time.perf_counter() - start:.1f} s")  # fmt: skip
    items = prompteol_shaped_inputs(args.n, model.config.vocab_size)
    tokens = sum(len(item.input_ids) for item in items)
    print(f"{len(items)} distinct PromptEOL-shaped inputs, {tokens / len(items):.1f} tokens on average")
    warm_up = items[: 2 * args.batch_size[0]]
    reference_encode(model, warm_up, args.batch_size[0], args.device)
    engine_encode(model, warm_up, args.batch_size[0], args.device)
    tolerance = MIN_COSINE[dtype]
    agree = True
    for batch_size in args.batch_size:
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        reference = reference_encode(model, items, batch_size, args.device)
        engine = engine_encode(model, items, batch_size, args.device)
        peak = (
            f", peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
            if args.device.startswith("cuda")
            else ""
        )
        cosine = min_cosine(reference.vectors, engine.vectors)
        agree &= cosine >= tolerance
        print(
            f"batch {batch_size:3d}: reference {len(items) / reference.seconds:8.1f} sent/s "
            f"({reference.seconds:.1f} s), engine {len(items) / engine.seconds:8.1f} sent/s "
            f"({engine.seconds:.1f} s), engine/reference {reference.seconds / engine.seconds:.2f}x, "
            f"min cosine {cosine:.5f} (must be >= {tolerance}){peak}"
        )
    if not agree:
        raise SystemExit("engine and reference embeddings differ beyond the tolerance")


if __name__ == "__main__":
    main()
