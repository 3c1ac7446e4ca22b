"""Benchmark: the same work in 1 process and in N processes under ``accelerate launch``, one run.

The work, on the embedded model and real data: a PromptEOL encode of STS-B dev sentences with the
embedding engine, and SemPA DPO training steps (reference log-probs, forward, backward, gradient sum,
AdamW) on real NLI triplets. Prints each side's wall time for each part, the ratio, and whether the two
sides agree (embeddings equal; loss curve and LoRA weights within the tolerances of
tests/test_distributed.py). On this 2-core CPU the processes share the same two cores, so the ratio
shows the overhead of the gloo collectives rather than a speed-up; on N GPUs each process has its own.

    .venv/bin/python benchmarks/scale.py [--processes 2] [--sentences 400] [--steps 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def work(args: argparse.Namespace) -> None:
    """One side of the comparison (every process of a launch runs it; the main one writes the result)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["BENCH_NO_PROGRESS"] = "1"
    import torch

    from bench.core.distributed import is_main_process, ranks, wait_for_all
    from bench.core.engine import EmbeddingEngine, EncodeItem, Readout
    from bench.core.models import load_model, resolve_model
    from bench.core.sequences import ChatFormatter
    from bench.core.settings import data_dir
    from bench.core.sts_data import read_stsb
    from bench.training.nli import load_nli
    from bench.training.objectives import PreferenceObjective, pairwise_dpo
    from bench.training.trainer import LoraSettings, Trainer, TrainSettings, attach_lora
    from methods.configs import PARAPHRASE_PROMPTS, PROMPTEOL_TEMPLATE

    torch.manual_seed(0)
    loaded = load_model(resolve_model(args.model), device="cpu")
    tokenizer, pad_id = loaded.tokenizer, loaded.tokenizer.pad_token_id
    dev = read_stsb(data_dir(), "dev")
    sentences = list(dict.fromkeys([*dev.sentences1, *dev.sentences2]))[: args.sentences]
    prompts = [PROMPTEOL_TEMPLATE.format(sentence=s) for s in sentences]
    items = [EncodeItem(tuple(tokenizer(p)["input_ids"])) for p in prompts]
    engine = EmbeddingEngine(loaded.model, pad_id, batch_size=16, show_progress=False)
    wait_for_all()
    start = time.perf_counter()
    vectors = engine.encode(items, Readout(-2, "last"))
    encode_s = time.perf_counter() - start

    batch = 8
    data = load_nli(data_dir(), "triplets", seed=0, train_samples=batch * args.steps, heldout=0)
    model = attach_lora(loaded.model, LoraSettings(), seed=0)
    objective = PreferenceObjective(ChatFormatter(tokenizer, "You are a helpful assistant"),
                                    PARAPHRASE_PROMPTS["P1"], 0.1, pairwise_dpo, pad_id)  # fmt: skip
    settings = TrainSettings(learning_rate=1e-4, warmup_ratio=0.0, micro_batch=4, grad_accum=batch // 4,
                             eval_every=0, disable_dropout=True)  # fmt: skip
    out = Path(args.out)
    wait_for_all()
    start = time.perf_counter()
    Trainer(model, objective, settings, out / "training", None, show_progress=False).train(data.train, [])
    train_s = time.perf_counter() - start
    if is_main_process():
        lines = (out / "training" / "training_log.jsonl").read_text().splitlines()
        losses = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
        lora = {k: p.detach().numpy() for k, p in model.named_parameters() if "lora_" in k}
        weights = {f"lora/{k}": v for k, v in lora.items()}
        np.savez(out / "result.npz", vectors=vectors, losses=np.array(losses), **weights)
        times = {"encode_s": encode_s, "train_s": train_s, "processes": ranks().count,
                 "threads": torch.get_num_threads()}  # fmt: skip
        (out / "times.json").write_text(json.dumps(times))


def side(args: argparse.Namespace, processes: int, out: Path) -> tuple[dict, np.lib.npyio.NpzFile]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("WORLD_SIZE", None)
    cores = os.cpu_count() or 1
    env["OMP_NUM_THREADS"] = str(max(cores // processes, 1))  # the same cores in all, split between processes
    launch = [] if processes == 1 else [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
    ]  # fmt: skip
    command = [sys.executable, *launch, __file__, "--worker", "--out", str(out), "--model", args.model,
               "--sentences", str(args.sentences), "--steps", str(args.steps)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        sys.exit(f"{processes}-process side failed:\n{done.stderr[-3000:]}")
    return json.loads((out / "times.json").read_text()), np.load(out / "result.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=400, help="STS-B dev sentences to encode")
    parser.add_argument("--steps", type=int, default=4, help="DPO steps of 8 triplets")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        (t1, r1), (tn, rn) = side(args, 1, Path(tmp) / "one"), side(args, args.processes, Path(tmp) / "n")
        a, b = r1["vectors"].astype(np.float64), rn["vectors"].astype(np.float64)
        vector_gap = float(np.abs(a - b).max())
        cosine = float(np.min((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))
        loss_gap = float(np.max(np.abs(r1["losses"] - rn["losses"]) / np.abs(r1["losses"])))
        lora_gap = max(float(np.abs(r1[k] - rn[k]).max()) for k in r1.files if k.startswith("lora/"))
    print(f"model {args.model}, {args.sentences} STS-B dev sentences, {args.steps} DPO steps of 8 triplets")
    for part, key in (("encode", "encode_s"), ("train", "train_s")):
        one = f"1 process ({t1['threads']} threads) {t1[key]:7.1f} s"
        many = f"{tn['processes']} processes ({tn['threads']} threads each) {tn[key]:7.1f} s"
        print(f"{part:>7}: {one} | {many} | ratio {t1[key] / tn[key]:.2f}x")
    # identical at equal thread counts (tests/test_distributed.py); here the sides use 2 and 1 threads,
    # whose matrix products sum in different orders
    print(f"agree: embeddings max abs gap {vector_gap:.1e}, min cosine {cosine:.7f}; "
          f"loss curve max relative gap {loss_gap:.1e} "
          f"(<= 1e-5: {loss_gap <= 1e-5}); LoRA weights max abs gap {lora_gap:.1e} "
          f"(<= 1e-4: {lora_gap <= 1e-4})")  # fmt: skip


if __name__ == "__main__":
    main()
