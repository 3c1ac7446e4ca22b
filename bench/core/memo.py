"""Memoised encoding: each distinct sentence is encoded once per method per run, and, with a persistent
:class:`~bench.core.embedding_cache.EmbeddingCache`, once across runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.core.embedding_cache import EmbeddingCache


@dataclass(frozen=True)
class CacheNamespace:
    """Where a method's vectors live in the persistent cache: a key and what it stands for (JSON)."""

    key: str
    description: str


class EmbeddingMemo:
    """Wraps ``encode(sentences)``; later calls reuse vectors of sentences seen before.

    ``namespace`` is asked for on the first miss (after training, so a trained method can name its
    adapter); None there, or no ``cache``, keeps vectors in memory only."""

    def __init__(
        self,
        encode: Callable[[Sequence[str]], np.ndarray],
        cache: EmbeddingCache | None = None,
        namespace: Callable[[], CacheNamespace | None] | None = None,
    ) -> None:
        self._encode = encode
        self._vectors: dict[str, np.ndarray] = {}
        self._cache = cache
        self._namespace = namespace
        self._resolved: CacheNamespace | None = None
        self._asked = False
        self.encoded = 0  # sentences actually encoded (not served from memory or the cache)
        self.from_cache = 0  # sentences read from the persistent cache
        self.seconds = 0.0

    def namespace(self) -> CacheNamespace | None:
        if self._cache is None or self._namespace is None:
            return None
        if not self._asked:
            self._resolved, self._asked = self._namespace(), True
        return self._resolved

    def __call__(self, sentences: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(s for s in sentences if s not in self._vectors))
        namespace = self.namespace() if missing else None
        if namespace is not None and self._cache is not None:
            found = self._cache.get(namespace.key, missing)
            self._vectors.update(found)
            self.from_cache += len(found)
            missing = [s for s in missing if s not in found]
        if missing:
            start = time.perf_counter()
            vectors = np.asarray(self._encode(missing))
            self.seconds += time.perf_counter() - start
            self.encoded += len(missing)
            for sentence, vector in zip(missing, vectors, strict=True):
                self._vectors[sentence] = vector
            if namespace is not None and self._cache is not None:
                self._cache.put(namespace.key, namespace.description, missing, vectors)
        if not sentences:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[s] for s in sentences])
