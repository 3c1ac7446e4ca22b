"""Benchmark: the project's SemPA DPO step against the straightforward step, same batch, one run.

Straightforward = what a first implementation does every step: a reference forward with the adapter
disabled, then a policy forward computing logits over the full sequence (``model(...).logits``), both
on chosen and rejected padded to the batch's longest row. Project = ``PreferenceObjective``: reference
log-probs computed once before training (not timed per step: it is a one-off pass), each prompt computed
once for its two responses, the prefix every prompt shares (system prompt and template head) computed
once per step, the LM head applied only to response positions, dynamic padding. "project, no shared
prefix" is the project's step without that last-but-one saving (the step before it was added). All do
forward + backward + AdamW on the same LoRA model and the same real NLI triplets. Prints seconds/step,
the ratio, the loss of each, and each step's share of this machine's fp32 limit, measured in the same
run as the speed of a large fp32 matrix product: (4 x body params x distinct tokens + 4 x LM-head params
x response tokens) / step time / that speed, where distinct tokens count the shared prefix once (the
work a step cannot avoid: forward, and backward through the frozen weights to the adapters).

    BENCH_DATA_DIR=../shared/data .venv/bin/python benchmarks/dpo_step.py [--batch 8] [--steps 5]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENCH_NO_PROGRESS", "1")

from bench.core.models import load_model, resolve_model  # noqa: E402
from bench.core.sequences import ChatFormatter, PromptResponse  # noqa: E402
from bench.core.settings import data_dir  # noqa: E402
from bench.training.losses import sigmoid_dpo_loss  # noqa: E402
from bench.training.nli import load_nli  # noqa: E402
from bench.training.objectives import PreferenceObjective, pairwise_dpo, prompt_sharing_chunks  # noqa: E402
from bench.training.trainer import LoraSettings, attach_lora  # noqa: E402
from methods.configs import PARAPHRASE_PROMPTS  # noqa: E402


def straightforward_logprobs(model, sequences: list[PromptResponse], pad_id: int) -> torch.Tensor:
    """Full-vocabulary logits at every position, masked to the response afterwards."""
    width = max(len(s.prompt) + len(s.response) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, s in enumerate(sequences):
        tokens = torch.tensor(s.prompt + s.response)
        ids[row, : len(tokens)], mask[row, : len(tokens)] = tokens, 1
        labels[row, len(s.prompt) : len(tokens)] = tokens[len(s.prompt) :]
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    targets = labels[:, 1:]
    logprobs = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logprobs * (targets != -100)).sum(-1)


def straightforward_step(model, objective, batch, pad_id, beta) -> torch.Tensor:
    sequences = [s for e in batch for s in objective.sequences(e)]
    with model.disable_adapter(), torch.no_grad():
        reference = straightforward_logprobs(model, sequences, pad_id)
    policy = straightforward_logprobs(model, sequences, pad_id)
    scores = (beta * (policy - reference)).view(len(batch), 2)
    return sigmoid_dpo_loss(scores[:, 0], scores[:, 1]).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch", type=int, default=8, help="triplets per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--reference-triplets", type=int, default=96, help="triplets of the reference pass")
    args = parser.parse_args()
    torch.manual_seed(0)
    loaded = load_model(resolve_model(args.model), device="cpu")
    pad_id = loaded.tokenizer.pad_token_id
    model = attach_lora(loaded.model, LoraSettings(), seed=0)
    data = load_nli(data_dir(), "triplets", seed=0, train_samples=args.batch * (args.steps + 1))
    batches = [data.train[i : i + args.batch] for i in range(0, len(data.train), args.batch)]
    formatter = ChatFormatter(loaded.tokenizer, "You are a helpful assistant")
    objective = PreferenceObjective(formatter, PARAPHRASE_PROMPTS["P1"], 0.1, pairwise_dpo, pad_id)
    objective.setup(model, data.train, show_progress=False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def project(batch):
        return objective.step(model, batch).loss.mean()

    def naive(batch):
        return straightforward_step(model, objective, batch, pad_id, 0.1)

    import bench.core.sequences as sequences_module

    shared_prefix_length = sequences_module._shared_prefix_length

    def project_without_shared_prefix(batch):
        sequences_module._shared_prefix_length = lambda prompts: 0
        try:
            return project(batch)
        finally:
            sequences_module._shared_prefix_length = shared_prefix_length

    model.train()
    results = {}
    variants = (("straightforward", naive), ("project, no shared prefix", project_without_shared_prefix),
                ("project", project))  # fmt: skip
    for name, step in variants:
        state = {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k}
        times, losses = [], []
        for i, batch in enumerate(batches):
            start = time.perf_counter()
            loss = step(batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if i:  # the first step warms up
                times.append(time.perf_counter() - start)
            losses.append(loss.item())
        model.load_state_dict(state, strict=False)  # both variants start from the same adapter
        results[name] = (sum(times) / len(times), losses[0])
    tokens = sum(len(s.prompt) + len(s.response) for e in batches[0] for s in objective.sequences(e))
    work = useful_flops(loaded.model, objective, batches[1:])
    peak = matmul_flops_per_second()
    print(f"model {args.model}, batch {args.batch} triplets ({tokens} tokens), {args.steps} timed steps, "
          f"{torch.get_num_threads()} threads; fp32 matrix product: {peak / 1e9:.0f} GFLOP/s")  # fmt: skip
    for name, (seconds, first_loss) in results.items():
        share = work / seconds / peak
        print(f"{name:>26}: {seconds:6.2f} s/step   first-step loss {first_loss:.6f}   "
              f"{share:5.1%} of the fp32 limit")  # fmt: skip
    for name in ("project, no shared prefix", "project"):
        print(f"speed-up of {name}: {results['straightforward'][0] / results[name][0]:.2f}x")
    reference_data = load_nli(data_dir(), "triplets", seed=1, train_samples=args.reference_triplets)
    reference_pass(model, objective, reference_data)


def reference_pass(model, objective: PreferenceObjective, data) -> None:
    """The one-off reference pass: chunks of length-sorted sequences, each scored in full (the pass before
    prompt-sharing chunks) vs each prompt's responses in one chunk, the prompt computed once for them."""
    sequences = [s for e in data.train for s in objective.sequences(e)]
    size = objective.reference_batch_size
    distinct = sorted(dict.fromkeys(sequences), key=lambda s: len(s.prompt) + len(s.response))
    variants = {
        "length-sorted, full sequences": [distinct[i : i + size] for i in range(0, len(distinct), size)],
        "prompt-sharing chunks": prompt_sharing_chunks(sequences, size),
    }
    values, seconds = {}, {}
    for name, chunks in variants.items():
        start = time.perf_counter()
        for chunk in chunks:
            scores = objective._reference_logprobs(model, chunk).tolist()
            values.update({(name, s): v for s, v in zip(chunk, scores, strict=True)})
        seconds[name] = time.perf_counter() - start
    gap = max(abs(values[("prompt-sharing chunks", s)] - values[("length-sorted, full sequences", s)])
              for s in distinct)  # fmt: skip
    old, new = seconds.values()
    print(f"reference pass, {len(distinct)} sequences: length-sorted full sequences {old:.1f} s | "
          f"prompt-sharing chunks {new:.1f} s | {old / new:.2f}x; max log-prob gap {gap:.2e}")  # fmt: skip


def matmul_flops_per_second(n: int = 2048, repeats: int = 5) -> float:
    """This machine's fp32 limit: the best of a few large matrix products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def useful_flops(causal_lm, objective, batches) -> float:
    """Mean per step of the work a step cannot avoid (see the module docstring)."""
    from bench.core.sequences import _shared_prefix_length

    head = causal_lm.get_output_embeddings().weight.numel()
    embeddings = causal_lm.get_input_embeddings().weight.numel()
    body = sum(p.numel() for p in causal_lm.parameters()) - embeddings - (0 if head == embeddings else head)
    total = 0.0
    for batch in batches:
        sequences = [s for e in batch for s in objective.sequences(e)]
        prompts = list(dict.fromkeys(s.prompt for s in sequences))
        shared = _shared_prefix_length(prompts)
        distinct = shared + sum(len(p) - shared for p in prompts) + sum(len(s.response) for s in sequences)
        responses = sum(len(s.response) for s in sequences)
        total += 4 * body * distinct + 4 * head * responses
    return total / len(batches)


if __name__ == "__main__":
    main()
