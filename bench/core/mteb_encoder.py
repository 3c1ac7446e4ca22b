"""An mteb encoder around any encode function (list of sentences -> embeddings), scored by cosine.

mteb is imported on first use (it takes seconds). The STS suite scores through this adapter, and
``bench.app.interop.mteb_model`` hands it to users for their own ``mteb.evaluate`` pipelines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Encode = Callable[[Sequence[str]], np.ndarray]


def mteb_encoder(encode: Encode, name: str, revision: str = "local", n_parameters: int | None = None) -> Any:
    """An ``mteb`` ``AbsEncoder`` whose ``encode`` calls ``encode`` on the batch texts, in order."""
    from mteb.models import ModelMeta
    from mteb.models.abs_encoder import AbsEncoder
    from mteb.models.model_meta import ScoringFunction

    meta = ModelMeta(
        loader=None,
        name=name if "/" in name else f"sempa-bench/{name}",
        revision=revision,
        release_date=None,
        languages=["eng-Latn"],
        n_parameters=n_parameters,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=None,
        license=None,
        open_weights=None,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch"],
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=False,
        training_datasets=None,
    )

    class FunctionEncoder(AbsEncoder):
        """Embeds mteb's batches with the wrapped function (no instructions, cosine similarity)."""

        def __init__(self) -> None:
            self.mteb_model_meta = meta

        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            texts = [text for batch in inputs for text in batch["text"]]
            return np.asarray(encode(texts))

    return FunctionEncoder()
