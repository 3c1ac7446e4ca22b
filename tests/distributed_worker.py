"""What the distributed tests run, in one process (``python``) or in several (``accelerate launch``): an
encode of sentences with the embedding engine and a short DPO training of the tiny model (also killed and
resumed), all written by the main process to ``OUT/<what>.npz`` for the test to compare.

Usage: python tests/distributed_worker.py MODEL_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from bench.core.distributed import is_main_process, ranks
from bench.core.engine import EmbeddingEngine, EncodeItem, Readout
from bench.core.models import load_model, resolve_model
from bench.core.sequences import ChatFormatter
from bench.training.nli import Ranked
from bench.training.objectives import ContrastiveObjective, PreferenceObjective, pairwise_dpo
from bench.training.trainer import LoraSettings, Trainer, TrainSettings, attach_lora

SENTENCES = [
    "A man is playing a guitar.", "A woman is slicing an onion.", "Two dogs run across the field.",
    "The cat sleeps on the sofa.", "A child is riding a bike.", "Kids are playing in the yard.",
]  # fmt: skip
PROMPTEOL = 'This sentence : "{}" means in one word:"'
PROMPT = 'Keep the same meaning of this sentence: "{s}", while making some changes.'


def _items(tokenizer) -> list[EncodeItem]:
    texts = [f'This sentence : "{s}" means in one word:"' for s in SENTENCES] + [s * 2 for s in SENTENCES]
    return [EncodeItem(tuple(tokenizer(t)["input_ids"])) for t in texts * 2]  # duplicates too


def main(model_dir: str, out_dir: str) -> None:
    out = Path(out_dir)
    torch.manual_seed(0)
    loaded = load_model(resolve_model(model_dir), device="cpu")
    engine = EmbeddingEngine(loaded.model, loaded.tokenizer.pad_token_id, batch_size=3, show_progress=False)
    items = _items(loaded.tokenizer)
    vectors = engine.encode(items, Readout(-1, "last"))
    mean_pooled = engine.encode(items, Readout(2, "mean"))

    pairs = [(SENTENCES[(i + 1) % 6], SENTENCES[(i + 3) % 6]) for i in range(13)]
    examples = [Ranked(f"{SENTENCES[i % 6]} {i}", pair) for i, pair in enumerate(pairs)]
    model = attach_lora(loaded.model, LoraSettings(), seed=0)
    formatter = ChatFormatter(loaded.tokenizer, "You are a helpful assistant")
    objective = PreferenceObjective(formatter, PROMPT, 0.1, pairwise_dpo, loaded.tokenizer.pad_token_id)
    dev_score = _dev_scorer(model, loaded.tokenizer)

    settings = TrainSettings(learning_rate=5e-3, warmup_ratio=0.0, epochs=1, micro_batch=2, grad_accum=3,
                             eval_every=1, disable_dropout=True)  # fmt: skip
    trainer = Trainer(model, objective, settings, out / "training", dev_score, show_progress=False)
    summary = trainer.train(examples, examples[:3])
    preference = {f"preference/{n}": p.detach().numpy().copy() for n, p in model.named_parameters()
                  if "lora_" in n}  # fmt: skip

    # InfoNCE with in-batch negatives: the loss depends on which examples share a micro-batch
    def to_item(sentence: str) -> EncodeItem:
        return EncodeItem(tuple(loaded.tokenizer(PROMPTEOL.format(sentence))["input_ids"]))

    contrastive = ContrastiveObjective(to_item, Readout(-1, "last"), loaded.tokenizer.pad_token_id)
    Trainer(model, contrastive, settings, out / "contrastive", None, show_progress=False).train(examples, [])
    lora = {f"lora/{name}": p.detach().numpy() for name, p in model.named_parameters() if "lora_" in name}
    resumed, resumed_at = _killed_and_resumed(model_dir, objective, settings, examples, out / "resumed")
    if is_main_process():
        dev = np.array([p["stsb_dev"] for p in summary.dev_curve])
        curves = {name: _losses(out / folder) for name, folder in
                  (("losses", "training"), ("contrastive_losses", "contrastive"))}  # fmt: skip
        np.savez(out / "result.npz", vectors=vectors, mean_pooled=mean_pooled, dev=dev,
                 processes=ranks().count, resumed_at=resumed_at, **curves, **lora, **preference,
                 **resumed)  # fmt: skip


def _dev_scorer(model, tokenizer):
    """A dev score sharded through the engine, like the STS-B dev scorer."""
    adapted = EmbeddingEngine(model, tokenizer.pad_token_id, batch_size=4, show_progress=False)
    items = _items(tokenizer)[:8]
    return lambda: float(np.round(adapted.encode(items, Readout(-1, "last")).sum() * 1e-3, 6))


class _Killed(BaseException):
    pass


def _killed_and_resumed(model_dir: str, objective, settings, examples, folder: Path):
    """The preference training again on a fresh LoRA, killed after step 2 and run again in the same folder:
    its LoRA weights (``resumed/...``) and the steps it resumed at."""

    def kill(step: int, score: float) -> None:
        if step == 2:
            raise _Killed

    for on_dev_score in (kill, None):
        loaded = load_model(resolve_model(model_dir), device="cpu")
        model = attach_lora(loaded.model, LoraSettings(), seed=0)
        dev = _dev_scorer(model, loaded.tokenizer)
        try:
            summary = Trainer(model, objective, settings, folder, dev, False, on_dev_score).train(
                examples, examples[:3]
            )
        except _Killed:
            continue
    weights = {f"resumed/{n}": p.detach().numpy() for n, p in model.named_parameters() if "lora_" in n}
    return weights, np.array(summary.resumed_at)


def _losses(folder: Path) -> np.ndarray:
    lines = (folder / "training_log.jsonl").read_text().splitlines()
    return np.array([json.loads(line)["loss"] for line in lines if '"loss"' in line])


if __name__ == "__main__":
    main(*sys.argv[1:3])
