"""The embedding engine shared by every LLM method.

It runs the transformer body without the LM head, in inference mode, on batches sorted by token
length (left padding, explicit position ids), encodes each unique input once per call, and returns
float32 embeddings in input order. Methods describe *what* to read (token ids, pooling span, layer);
forward-pass interventions plug in as a context manager around each batch (see ``BatchHook``).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from bench.core.distributed import gather_objects, ranks
from bench.core.padding import pad_rows
from bench.core.progress import progress_bar

Pooling = Literal["last", "mean"]


@dataclass(frozen=True)
class EncodeItem:
    """One input: token ids and the token span ``[pool_start, pool_end)`` that mean pooling averages."""

    input_ids: tuple[int, ...]
    pool_start: int = 0
    pool_end: int | None = None  # None: up to the last token

    def span(self) -> tuple[int, int]:
        end = len(self.input_ids) if self.pool_end is None else self.pool_end
        return self.pool_start, end


@dataclass(frozen=True)
class Readout:
    """Which hidden state becomes the embedding: a layer (HF ``hidden_states`` index) and a pooling."""

    layer: int = -1
    pooling: Pooling = "last"


@dataclass
class Batch:
    """A left-padded batch as the decoder sees it; given to batch hooks.

    ``items`` are the whole inputs. After a cached shared prefix of ``prefix_len`` tokens the tensors hold
    only the rest of each input; because padding is on the left, ``width - len(item.input_ids) + i`` is
    still the column of token ``i`` of an item (for every ``i >= prefix_len``).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    items: list[EncodeItem]

    @property
    def prefix_len(self) -> int:
        """Tokens of the cached prefix: the mask covers them, the ids do not."""
        return self.attention_mask.shape[1] - self.input_ids.shape[1]


# A hook receives the decoder and the batch and returns a context manager active during its forward.
BatchHook = Callable[[Any, Batch], contextlib.AbstractContextManager]


@dataclass(frozen=True)
class PrefixSafeHook:
    """A batch hook that reads and changes no token before ``first_position(item)`` of any item, so the
    engine may cache a prefix the items share up to there (other hooks get whole inputs)."""

    hook: BatchHook
    first_position: Callable[[EncodeItem], int]

    def __call__(self, decoder: Any, batch: Batch) -> contextlib.AbstractContextManager:
        return self.hook(decoder, batch)


def decoder_of(causal_lm: Any) -> Any:
    """The transformer body (no LM head) of a causal LM, also through a peft wrapper."""
    if hasattr(causal_lm, "get_decoder"):
        decoder = causal_lm.get_decoder()
        if decoder is not None:
            return decoder
    return causal_lm.model


class EmbeddingEngine:
    """Encodes :class:`EncodeItem` lists with a causal LM's body; see module docstring."""

    def __init__(
        self,
        causal_lm: Any,
        pad_token_id: int,
        batch_size: int = 16,
        show_progress: bool = True,
        prefix_caching: bool = True,
    ) -> None:
        self.causal_lm = causal_lm
        self.pad_token_id = pad_token_id
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.prefix_caching = prefix_caching

    @property
    def device(self) -> torch.device:
        return next(self.causal_lm.parameters()).device

    def make_batch(self, items: list[EncodeItem], prefix_len: int = 0) -> Batch:
        """Left-pad ``items``; with ``prefix_len`` > 0, only what follows their cached shared prefix."""
        ids, mask = pad_rows([item.input_ids[prefix_len:] for item in items], self.pad_token_id, side="left")
        # positions count real tokens only, so a padded row sees the positions it would see alone
        positions = prefix_len + (mask.cumsum(-1) - 1).clamp(min=0)
        if prefix_len:
            mask = torch.cat([torch.ones((len(items), prefix_len), dtype=torch.long), mask], dim=1)
        device = self.device
        return Batch(ids.to(device), mask.to(device), positions.to(device), items)

    def forward_hidden(
        self, batch: Batch, layer: int, hook: BatchHook | None = None, prefix_cache: Any = None
    ) -> torch.Tensor:
        """Hidden states ``(batch, width, dim)`` of ``layer`` for a prepared batch."""
        decoder = decoder_of(self.causal_lm)
        context = hook(decoder, batch) if hook is not None else contextlib.nullcontext()
        cache = {}
        if prefix_cache is not None:
            cache = {
                cache_argument(decoder): _expand_cache(prefix_cache, len(batch.items)),
                "use_cache": True,
            }
        with context:
            out = decoder(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                output_hidden_states=layer != -1,
                **({"use_cache": False} | cache),
            )
        return out.last_hidden_state if layer == -1 else out.hidden_states[layer]

    def shared_prefix(self, items: list[EncodeItem], readout: Readout, hook: BatchHook | None = None) -> int:
        """Length of the token prefix all items share and ``hook`` leaves alone (0 when caching it is off,
        not worth it, or the hook may touch any token)."""
        if not self.prefix_caching or len(items) < 2:
            return 0
        # left padding keeps a batch as wide as its longest item, cached prefix included
        if not attends_to_whole_input(self.causal_lm, max(len(item.input_ids) for item in items)):
            return 0
        if hook is not None and not isinstance(hook, PrefixSafeHook):
            return 0
        first = items[0].input_ids
        n = min(len(item.input_ids) for item in items) - 1  # every item keeps at least one token
        if readout.pooling == "mean":
            n = min([n] + [item.pool_start for item in items])  # pooled tokens must be computed here
        if isinstance(hook, PrefixSafeHook):
            n = min([n] + [hook.first_position(item) for item in items])
        for item in items[1:]:
            ids = item.input_ids
            while n > 0 and ids[:n] != first[:n]:
                n -= 1
        return n if n >= 2 else 0

    def prefix_cache(self, prefix: tuple[int, ...]) -> Any:
        """Key/value cache of the shared prefix, computed once per encode call."""
        ids = torch.tensor([prefix], dtype=torch.long, device=self.device)
        decoder = decoder_of(self.causal_lm)
        out = decoder(input_ids=ids, use_cache=True, **{cache_argument(decoder): empty_full_cache()})
        return returned_cache(out)

    @staticmethod
    def pool(hidden: torch.Tensor, batch: Batch, pooling: Pooling) -> torch.Tensor:
        if pooling == "last":
            return hidden[:, -1, :]
        width = hidden.shape[1]
        weights = torch.zeros(hidden.shape[:2], dtype=hidden.dtype, device=hidden.device)
        for row, item in enumerate(batch.items):
            start, end = item.span()
            offset = width - len(item.input_ids)  # left padding (and a cached prefix) shift every position
            weights[row, offset + start : offset + end] = 1.0
        return (hidden * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp(min=1.0)

    def encode(
        self,
        items: Sequence[EncodeItem],
        readout: Readout,
        hook: BatchHook | None = None,
        description: str = "encoding",
    ) -> np.ndarray:
        """Embeddings ``(len(items), dim)`` as float32, in input order; duplicates encoded once. Inside a
        multi-process launch each process encodes every n-th batch (the batches a single process would
        form, so the vectors are the same) and all of them return the whole table."""
        unique: dict[EncodeItem, int] = {}
        for item in items:
            unique.setdefault(item, len(unique))
        distinct = list(unique)
        # longest first: the biggest batch runs first, so memory problems show at once
        order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i].input_ids))
        chunks = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        process = ranks()
        mine = process.share(chunks)
        vectors: list[np.ndarray | None] = [None] * len(distinct)
        self.causal_lm.eval()
        shown = self.show_progress and process.is_main
        with (
            torch.inference_mode(),
            progress_bar(sum(map(len, mine)), description, enabled=shown) as advance,
        ):
            n_prefix = self.shared_prefix(distinct, readout, hook)
            cache = self.prefix_cache(distinct[0].input_ids[:n_prefix]) if n_prefix and mine else None
            computed: list[tuple[list[int], np.ndarray]] = []
            for chunk in mine:
                batch = self.make_batch([distinct[i] for i in chunk], n_prefix)
                hidden = self.forward_hidden(batch, readout.layer, hook, cache)
                computed.append((chunk, self.pool(hidden, batch, readout.pooling).float().cpu().numpy()))
                advance(len(chunk))
        for part in gather_objects(computed):  # [computed] in one process
            for chunk, pooled in part:
                for row, index in enumerate(chunk):
                    vectors[index] = pooled[row]
        if not distinct:
            return np.zeros((0, 0), dtype=np.float32)
        table = np.stack(vectors).astype(np.float32)  # type: ignore[arg-type]
        return table[[unique[item] for item in items]]


def attends_to_whole_input(causal_lm: Any, width: int) -> bool:
    """Whether every layer attends to all earlier tokens of a padded batch ``width`` columns wide: full
    attention everywhere, or sliding windows at least that wide (Gemma-3's 512 covers every STS prompt).
    Only then may a prefix be cached and reused: its keys and values are what a whole forward would see."""
    config = text_config(causal_lm)
    if getattr(config, "use_bidirectional_attention", False) or not getattr(config, "is_causal", True):
        return False  # a later token changes an earlier one's state: no prefix has fixed keys and values
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    kinds = set(layer_types) if layer_types else {"full_attention" if window is None else "sliding_attention"}
    if not kinds <= {"full_attention", "sliding_attention"}:  # chunked, linear, ...: never assume
        return False
    # a sliding window of W columns shows each query itself and the W - 1 columns before it
    return "sliding_attention" not in kinds or (window is not None and width <= window)


def text_config(causal_lm: Any) -> Any:
    """The decoder's config (a multimodal config keeps it as its text config)."""
    config = causal_lm.config
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def empty_full_cache() -> Any:
    """A cache whose every layer keeps all keys and values. A model builds its own from its config, with
    sliding layers that drop what falls out of their window; a prefix kept for reuse must not lose any."""
    from transformers import DynamicCache

    return DynamicCache()


def cache_argument(decoder: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.2x); use whichever forward takes."""
    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def returned_cache(output: Any) -> Any:
    """The key/value cache a forward returned (``cache`` in newer transformers, else ``past_key_values``)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _expand_cache(cache: Any, batch_size: int) -> Any:
    """A fresh cache holding the prefix keys/values repeated for each row of the batch."""
    from transformers import DynamicCache

    layers = [
        (layer.keys.expand(batch_size, -1, -1, -1), layer.values.expand(batch_size, -1, -1, -1))
        for layer in cache.layers
    ]
    return DynamicCache(ddp_cache_data=layers)
