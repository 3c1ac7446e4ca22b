"""STS-B dev scoring shared by checkpoint selection, demonstration selection and ablations.

The dev split is the only one used to choose anything (checkpoints, settings, trials); test splits are
scored by the STS suite and never feed back into a choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.core.errors import BenchError
from bench.core.sts_data import read_stsb

Encode = Callable[[Sequence[str]], np.ndarray]


def spearman_of_cosines(embeddings1: np.ndarray, embeddings2: np.ndarray, gold: Sequence[float]) -> float:
    """Spearman(cosine(e1_i, e2_i), gold_i) x 100, computed directly with scipy."""
    from scipy.stats import spearmanr

    a = embeddings1 / np.linalg.norm(embeddings1, axis=1, keepdims=True)
    b = embeddings2 / np.linalg.norm(embeddings2, axis=1, keepdims=True)
    cosines = (a * b).sum(1)
    if len(set(gold)) < 2 or not np.all(np.isfinite(cosines)) or np.ptp(cosines) == 0:
        raise BenchError(
            "STS-B dev Spearman is undefined: constant gold scores, or embeddings that are not finite or "
            "do not depend on the sentence"
        )
    return float(spearmanr(cosines, gold)[0]) * 100


def stsb_dev_scorer(encode: Encode, data_dir: Path, pairs: int | None = None) -> Callable[[], float]:
    """A function returning STS-B dev Spearman x 100 (first ``pairs`` pairs, or all) of ``encode`` now."""
    dev = read_stsb(data_dir, "dev")
    if pairs is not None:
        dev = dev.head(pairs)

    def score() -> float:
        embeddings = encode(dev.sentences1 + dev.sentences2)
        n = len(dev)
        return round(spearman_of_cosines(embeddings[:n], embeddings[n:], dev.scores), 3)

    return score
