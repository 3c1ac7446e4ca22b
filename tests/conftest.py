"""Shared fixtures: a tiny random Llama (built from a config, no download) and tiny STS data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("BENCH_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(os.environ.get("BENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))

CORPUS = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "Two dogs run across the field.",
    "The cat sleeps on the sofa.",
    "A child is riding a bike.",
    "Kids are playing in the yard.",
    "This sentence : means in one word:",
    "Rewrite the sentence: rewritten sentence:",
    "After thinking step by step , this sentence",
    "Keep the same meaning of this sentence",
]


def tiny_tokenizer():
    """A byte-level BPE tokenizer trained on ``CORPUS`` (300 tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(CORPUS * 3, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


# the shape both tiny models share: 3 layers of width 32, 4 heads, and the tokenizer's special ids
TINY_SHAPE = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=4,
    max_position_embeddings=256,
    bos_token_id=1,
    eos_token_id=2,
)


def _save_random(folder: Path, model_class: type, config: object, tokenizer, seed: int) -> Path:
    import torch

    torch.manual_seed(seed)
    model = model_class(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Save a 3-layer random Llama and :func:`tiny_tokenizer`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), num_key_value_heads=2, tie_word_embeddings=False, **TINY_SHAPE
    )
    return _save_random(folder, LlamaForCausalLM, config, tokenizer, seed)


def build_tiny_gemma3(folder: Path, sliding_window: int, seed: int = 0) -> Path:
    """Save a 3-layer random Gemma-3 (sliding, full, sliding attention, like Gemma-3's mix) and
    :func:`tiny_tokenizer`."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = tiny_tokenizer()
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        num_key_value_heads=1,
        head_dim=8,
        sliding_window=sliding_window,
        final_logit_softcapping=0.5,  # Gemma-2 uses 30: log-probs computed outside forward must apply it
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        pad_token_id=0,
        **TINY_SHAPE,
    )
    return _save_random(folder, Gemma3ForCausalLM, config, tokenizer, seed)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir):
    from bench.core.models import load_model, resolve_model

    return load_model(resolve_model(str(tiny_model_dir)), device="cpu")


def write_tiny_sts(root: Path, n: int = 12) -> Path:
    """A data directory in shared/data's layout with ``n`` pairs per STS file."""
    import random

    rng = random.Random(0)
    pairs = [(rng.choice(CORPUS[:6]), rng.choice(CORPUS[:6]), round(rng.uniform(0, 5), 2)) for _ in range(n)]
    from bench.core.sts_data import SEMEVAL_SETS

    for spec in SEMEVAL_SETS.values():
        folder = root / "sts" / "raw" / spec.folder
        folder.mkdir(parents=True, exist_ok=True)
        for subset in spec.subsets:
            (folder / f"{spec.prefix}.input.{subset}.txt").write_text(
                "".join(f"{a}\t{b}\n" for a, b, _ in pairs)
            )
            (folder / f"{spec.prefix}.gs.{subset}.txt").write_text("".join(f"{s}\n" for *_, s in pairs))
    stsb = root / "sts" / "raw" / "STSBenchmark"
    stsb.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        rows = "".join(
            f"main-captions\tMSRvid\t2012test\t{i:04d}\t{s}\t{a}\t{b}\n" for i, (a, b, s) in enumerate(pairs)
        )
        (stsb / f"sts-{split}.csv").write_text(rows)
    sick = root / "sick"
    sick.mkdir(parents=True, exist_ok=True)
    lines = ["pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"]
    lines += [f"{i}\t{a}\t{b}\t{1 + s * 0.8:.2f}\tNEUTRAL" for i, (a, b, s) in enumerate(pairs)]
    (sick / "SICK_test_annotated.txt").write_text("\r\n".join(lines) + "\r\n")
    return root


@pytest.fixture()
def tiny_data(tmp_path) -> Path:
    return write_tiny_sts(tmp_path / "data")


@pytest.fixture(autouse=True)
def embedding_cache_env(tmp_path, monkeypatch) -> Path:
    """Every test gets an empty persistent embedding cache of its own (never the user's)."""
    path = tmp_path / "embedding-cache" / "embeddings.sqlite"
    monkeypatch.setenv("BENCH_EMBEDDING_CACHE", str(path))
    return path


@pytest.fixture()
def cache_env(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("BENCH_CACHE", str(path))
    return path


def write_tiny_nli(root: Path, n: int = 24) -> Path:
    """NLI files in shared/data/nli's layout: triplet CSVs and raw labelled pairs, from ``CORPUS``."""
    import csv
    import json
    import random

    rng = random.Random(1)
    sentences = CORPUS[:6]
    folder = root / "nli"
    (folder / "snli_senteval").mkdir(parents=True, exist_ok=True)
    (folder / "mnli").mkdir(parents=True, exist_ok=True)
    rows = [
        (f"{rng.choice(sentences)} number {i}", rng.choice(sentences), rng.choice(sentences))
        for i in range(n)
    ]
    half = n // 2
    for name, split_col, chunk, tokenized in (
        ("snli_devtest_triplets.csv", "snli_split", rows[:half], True),
        ("mnli_devmatched_triplets.csv", "mnli_split", rows[half:], False),
    ):
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["sent0", "sent1", "hard_neg", split_col])
            for row in chunk:
                cells = [c.replace(".", " .") for c in row] if tokenized else list(row)
                writer.writerow([*cells, "dev"])
    labels = ("entailment", "neutral", "contradiction")
    for split in ("train", "dev", "test"):
        s1, s2, lab = [], [], []
        for premise, *_ in rows[:half]:
            for label in labels:
                s1.append(premise.replace(".", " ."))
                s2.append(rng.choice(sentences).replace(".", " ."))
                lab.append(label)
        for part, values in (("s1", s1), ("s2", s2), ("labels", lab)):
            (folder / "snli_senteval" / f"{part}.{split}").write_text("\n".join(values) + "\n")
    with open(folder / "mnli" / "dev_matched.jsonl", "w", encoding="utf-8") as fh:
        for premise, *_ in rows[half:]:
            for label in labels:
                fh.write(
                    json.dumps({"premise": premise, "hypothesis": rng.choice(sentences), "label": label})
                    + "\n"
                )
    return root


@pytest.fixture()
def tiny_nli_data(tmp_path) -> Path:
    """Tiny STS and NLI data in one data directory."""
    return write_tiny_nli(write_tiny_sts(tmp_path / "data"))
