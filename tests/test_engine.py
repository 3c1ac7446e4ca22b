"""Embedding engine on a tiny random Llama: equals the reference readout, batch-invariant, dedups."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from bench.core.engine import EmbeddingEngine, EncodeItem, PrefixSafeHook, Readout
from tests.conftest import CORPUS


def _items(tokenizer, texts):
    return [EncodeItem(tuple(tokenizer(t)["input_ids"])) for t in texts]


def _reference(model, item: EncodeItem, layer: int, pooling: str) -> np.ndarray:
    """One sentence alone through the full causal LM with output_hidden_states (the textbook way)."""
    with torch.no_grad():
        out = model(torch.tensor([item.input_ids]), output_hidden_states=True)
    hidden = out.hidden_states[layer][0]
    start, end = item.span()
    vector = hidden[-1] if pooling == "last" else hidden[start:end].mean(0)
    return vector.numpy()


def _cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


@pytest.mark.parametrize("layer,pooling", [(-1, "last"), (-2, "last"), (-1, "mean"), (1, "mean")])
def test_engine_matches_reference_readout(tiny_loaded, layer, pooling):
    items = _items(tiny_loaded.tokenizer, CORPUS)
    engine = EmbeddingEngine(
        tiny_loaded.model, tiny_loaded.tokenizer.pad_token_id, batch_size=4, show_progress=False
    )
    got = engine.encode(items, Readout(layer, pooling))
    want = np.stack([_reference(tiny_loaded.model, item, layer, pooling) for item in items])
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_scores_do_not_depend_on_batch_size_or_order(tiny_loaded):
    items = _items(tiny_loaded.tokenizer, CORPUS)
    runs = []
    for batch_size, order in [(1, 1), (3, 1), (16, -1)]:
        engine = EmbeddingEngine(
            tiny_loaded.model, tiny_loaded.tokenizer.pad_token_id, batch_size, show_progress=False
        )
        runs.append(engine.encode(items[::order], Readout())[::order])
    assert _cosine_min(runs[0], runs[1]) > 0.99999
    assert _cosine_min(runs[0], runs[2]) > 0.99999


def test_each_unique_input_is_encoded_once_and_order_is_kept(tiny_loaded):
    items = _items(tiny_loaded.tokenizer, CORPUS[:3])
    seen = []

    def count_rows(decoder, batch):
        seen.append(batch.input_ids.shape[0])
        return contextlib.nullcontext()

    engine = EmbeddingEngine(tiny_loaded.model, tiny_loaded.tokenizer.pad_token_id, 8, show_progress=False)
    inputs = [items[2], items[0], items[2], items[1], items[0]]
    out = engine.encode(inputs, Readout(), hook=count_rows)
    assert sum(seen) == 3
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[1], out[4])
    alone = engine.encode([items[1]], Readout())
    np.testing.assert_allclose(out[3], alone[0], atol=1e-5)


def test_mean_pooling_uses_only_the_span(tiny_loaded):
    ids = tuple(tiny_loaded.tokenizer("A man is playing a guitar.")["input_ids"])
    engine = EmbeddingEngine(tiny_loaded.model, tiny_loaded.tokenizer.pad_token_id, 4, show_progress=False)
    span = EncodeItem(ids, 2, 4)
    got = engine.encode([span, EncodeItem(ids)], Readout(-1, "mean"))
    np.testing.assert_allclose(got[0], _reference(tiny_loaded.model, span, -1, "mean"), atol=1e-5)
    assert not np.allclose(got[0], got[1])


def test_padding_gets_real_token_positions(tiny_loaded):
    engine = EmbeddingEngine(tiny_loaded.model, tiny_loaded.tokenizer.pad_token_id, 4, show_progress=False)
    batch = engine.make_batch([EncodeItem((5, 6, 7)), EncodeItem((5,))])
    assert batch.position_ids.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1], [0, 0, 1]]


@pytest.mark.parametrize("layer,pooling", [(-1, "last"), (-2, "last"), (-1, "mean")])
def test_shared_prefix_cache_gives_the_same_embeddings(tiny_loaded, layer, pooling):
    tokenizer = tiny_loaded.tokenizer
    prefix = "After thinking step by step , this sentence : "
    items = []
    for text in CORPUS[:6]:
        ids = tuple(tokenizer(prefix + text)["input_ids"])
        items.append(EncodeItem(ids, len(tokenizer(prefix)["input_ids"]), None))
    engines = [
        EmbeddingEngine(
            tiny_loaded.model, tokenizer.pad_token_id, 4, show_progress=False, prefix_caching=flag
        )
        for flag in (False, True)
    ]
    assert engines[1].shared_prefix(items, Readout(layer, pooling)) >= 5
    plain, cached = (engine.encode(items, Readout(layer, pooling)) for engine in engines)
    np.testing.assert_allclose(cached, plain, atol=1e-5, rtol=1e-4)
    want = np.stack([_reference(tiny_loaded.model, item, layer, pooling) for item in items])
    np.testing.assert_allclose(cached, want, atol=1e-4, rtol=1e-4)


def test_only_a_prefix_safe_hook_keeps_the_prefix_cache_and_only_before_its_first_position(tiny_loaded):
    engine = EmbeddingEngine(tiny_loaded.model, 0, 4, show_progress=False)
    items = [EncodeItem((5, 6, 7, 8, 9)), EncodeItem((5, 6, 7, 8, 10))]
    readout = Readout(-1, "last")
    assert engine.shared_prefix(items, readout) == 4

    def any_hook(decoder, batch):
        return contextlib.nullcontext()

    assert engine.shared_prefix(items, readout, any_hook) == 0
    assert engine.shared_prefix(items, readout, PrefixSafeHook(any_hook, lambda item: 2)) == 2
    widths = []

    def recording(decoder, batch):
        widths.append((batch.input_ids.shape[1], batch.prefix_len, batch.items))
        return contextlib.nullcontext()

    engine.encode(items, readout, PrefixSafeHook(recording, lambda item: 3))
    assert widths == [(2, 3, items)]  # whole items; the tensors hold what follows the prefix


def test_no_shared_prefix_when_mean_pooling_covers_it(tiny_loaded):
    engine = EmbeddingEngine(tiny_loaded.model, 0, 4, show_progress=False)
    items = [EncodeItem((5, 6, 7, 8, 9)), EncodeItem((5, 6, 7, 10))]
    assert engine.shared_prefix(items, Readout(-1, "last")) == 3
    assert engine.shared_prefix(items, Readout(-1, "mean")) == 0
    spans = [EncodeItem((5, 6, 7, 8, 9), 2, 5), EncodeItem((5, 6, 7, 10), 2, 4)]
    assert engine.shared_prefix(spans, Readout(-1, "mean")) == 2


GEMMA_PREFIX = "After thinking step by step , this sentence : "


def _gemma3_items():
    from tests.conftest import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    return [EncodeItem(tuple(tokenizer(GEMMA_PREFIX + text)["input_ids"])) for text in CORPUS[:6]]


@pytest.mark.parametrize("margin", [0, -1], ids=["window-equals-longest", "window-one-short"])
def test_sliding_window_model_caches_a_prefix_exactly_when_the_window_covers_the_batch(tmp_path, margin):
    from bench.core.models import load_model, resolve_model
    from tests.conftest import build_tiny_gemma3

    items = _gemma3_items()
    window = max(len(item.input_ids) for item in items) + margin
    loaded = load_model(resolve_model(str(build_tiny_gemma3(tmp_path / "g", window))), device="cpu")
    engine = EmbeddingEngine(loaded.model, loaded.tokenizer.pad_token_id, 4, show_progress=False)
    shared = engine.shared_prefix(items, Readout())
    assert (shared >= 5) if margin == 0 else (shared == 0)
    got = engine.encode(items, Readout())
    want = np.stack([_reference(loaded.model, item, -1, "last") for item in items])
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_a_window_narrower_than_the_input_changes_the_embedding(tmp_path):
    """The tiny Gemma-3's window is a real sliding window (not full attention in disguise)."""
    from bench.core.models import load_model, resolve_model
    from tests.conftest import build_tiny_gemma3

    vectors = []
    for window in (64, 6):  # wider than every input, and narrower
        loaded = load_model(
            resolve_model(str(build_tiny_gemma3(tmp_path / str(window), window))), device="cpu"
        )
        item = EncodeItem(tuple(loaded.tokenizer("After thinking step by step , " + CORPUS[0])["input_ids"]))
        vectors.append(_reference(loaded.model, item, -1, "last"))
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-3


def test_whole_input_attention_by_layer_kind_and_window():
    from types import SimpleNamespace

    from bench.core.engine import attends_to_whole_input

    def model(**config):
        return SimpleNamespace(config=SimpleNamespace(**config))

    assert attends_to_whole_input(model(), 10_000)  # a Llama config: no window
    assert attends_to_whole_input(model(sliding_window=4096, layer_types=["full_attention"] * 2), 10_000)
    mixed = model(sliding_window=512, layer_types=["sliding_attention", "full_attention"])
    assert attends_to_whole_input(mixed, 512) and not attends_to_whole_input(mixed, 513)
    assert not attends_to_whole_input(model(sliding_window=8), 9)  # every layer sliding (Mistral layout)
    assert not attends_to_whole_input(model(layer_types=["chunked_attention"]), 2)
    assert not attends_to_whole_input(model(use_bidirectional_attention=True), 2)
    text = SimpleNamespace(sliding_window=8, layer_types=["sliding_attention"])  # a multimodal config
    wrapped = SimpleNamespace(config=SimpleNamespace(get_text_config=lambda: text))
    assert attends_to_whole_input(wrapped, 8) and not attends_to_whole_input(wrapped, 9)
