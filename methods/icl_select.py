"""Choose prompteol-icl's demonstration on STS-B dev (never a test split).

    python -m methods.icl_select [--model smollm2-135m] [--pairs N] [--out FILE.csv]

Scores every candidate of ``methods/data/icl_candidates.tsv`` by STS-B dev Spearman x 100 and prints
them best first; the best one is what ``prompteol-icl``'s defaults should hold for that model.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench.core.atomic import atomic_write_text
from bench.core.dev_score import spearman_of_cosines
from bench.core.method import RunContext
from bench.core.models import LoadedModel
from bench.core.options import RuntimeOptions
from bench.core.sts_data import read_stsb
from methods.icl import PromptEOLICL, icl_candidates


def rank_demonstrations(
    load_model: Callable[[], LoadedModel], data_dir: Path, pairs: int | None = None
) -> pd.DataFrame:
    """STS-B dev Spearman of every candidate demonstration, best first."""
    dev = read_stsb(data_dir, "dev")
    dev = dev.head(pairs) if pairs else dev
    context = RunContext(
        options=RuntimeOptions(data_dir=data_dir, show_progress=False), load_model=load_model
    )
    rows = []
    for sentence, word in icl_candidates():
        method = PromptEOLICL.from_overrides({"demo_sentence": sentence, "demo_word": word}, context)
        embeddings = method.encode(dev.sentences1 + dev.sentences2)
        score = spearman_of_cosines(embeddings[: len(dev)], embeddings[len(dev) :], dev.scores)
        rows.append({"demo_sentence": sentence, "demo_word": word, "stsb_dev": round(score, 3)})
    return pd.DataFrame(rows).sort_values("stsb_dev", ascending=False, ignore_index=True)


def main() -> None:
    from bench.core.models import load_model, resolve_model
    from bench.core.settings import data_dir

    parser = argparse.ArgumentParser(description="choose prompteol-icl's demonstration on STS-B dev")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--pairs", type=int, default=None, help="first N dev pairs (default: all 1,500)")
    parser.add_argument("--out", type=Path, default=Path("results/ablations/icl_selection.csv"))
    args = parser.parse_args()
    loaded = load_model(resolve_model(args.model))
    table = rank_demonstrations(lambda: loaded, data_dir(), args.pairs)
    atomic_write_text(args.out, table.to_csv(index=False))
    print(table.to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
