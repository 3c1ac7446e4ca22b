"""Memoised encoding: each distinct sentence is encoded once per method per run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


class EmbeddingMemo:
    """Wraps ``encode(sentences)``; later calls reuse vectors of sentences seen before."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray]) -> None:
        self._encode = encode
        self._vectors: dict[str, np.ndarray] = {}
        self.encoded = 0  # sentences actually encoded (not served from memory)
        self.seconds = 0.0

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(s for s in sentences if s not in self._vectors))
        if missing:
            start = time.perf_counter()
            vectors = self._encode(missing)
            self.seconds += time.perf_counter() - start
            self.encoded += len(missing)
            for sentence, vector in zip(missing, vectors, strict=True):
                self._vectors[sentence] = vector
        if not sentences:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[s] for s in sentences])
