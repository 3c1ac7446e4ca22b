"""Token Prepending and Contrastive Prompting on a tiny random Llama: off = plain, on = as prescribed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.engine import decoder_of
from bench.core.errors import ModelError
from bench.core.interventions import decoder_layers
from bench.core.method import METHODS, RunContext
from bench.core.options import RuntimeOptions
from tests.conftest import CORPUS

SENTENCES = CORPUS[:5]


def _method(name, loaded, batch_size=4, **overrides):
    context = RunContext(
        options=RuntimeOptions(batch_size=batch_size, show_progress=False), load_model=lambda: loaded
    )
    return METHODS.get(name).from_overrides(overrides, context)


def _forward(decoder, batch):
    return decoder(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids
    )


def _capture_layer_inputs(decoder):
    inputs, handles = {}, []
    for index, layer in enumerate(decoder.layers):

        def grab(module, args, kwargs, index=index):
            inputs[index] = (args[0] if args else kwargs["hidden_states"]).detach().clone()

        handles.append(layer.register_forward_pre_hook(grab, with_kwargs=True))
    return inputs, handles


def test_token_prepending_off_is_a_plain_forward_with_the_placeholder_embedding(tiny_loaded):
    method = _method("token-prepending", tiny_loaded, start_layer=2, exit_layer=1, layer=-1)
    got = method.encode(SENTENCES[:1])
    item = method.to_item(SENTENCES[0])
    index = method._placeholder_index[item]
    decoder = decoder_of(tiny_loaded.model)
    with torch.no_grad():
        embeds = decoder.embed_tokens(torch.tensor([item.input_ids]))
        embeds[0, index] = decoder.embed_tokens.weight.mean(0)
        want = decoder(inputs_embeds=embeds).last_hidden_state[0, -1].numpy()
    np.testing.assert_allclose(got[0], want, atol=1e-5)


def test_token_prepending_on_copies_the_last_token_state_into_the_placeholder(tiny_loaded):
    method = _method("token-prepending", tiny_loaded, start_layer=1, exit_layer=1, layer=-1)
    items = [method.to_item(s) for s in SENTENCES[:2]]
    hook = method.batch_hook(SENTENCES[:2], items)
    engine = method.engine
    batch = engine.make_batch(items)
    decoder = decoder_of(tiny_loaded.model)
    with torch.no_grad(), hook(decoder, batch):
        inputs, handles = _capture_layer_inputs(decoder)  # registered after the method's hooks
        try:
            _forward(decoder, batch)
        finally:
            for handle in handles:
                handle.remove()
    width = batch.input_ids.shape[1]
    for row, item in enumerate(items):
        column = width - len(item.input_ids) + method._placeholder_index[item]
        torch.testing.assert_close(inputs[1][row, column], inputs[1][row, -1])  # patched layer
        assert not torch.allclose(inputs[2][row, column], inputs[2][row, -1])  # beyond the exit layer
    off = _method("token-prepending", tiny_loaded, start_layer=1, exit_layer=0, layer=-1).encode(SENTENCES)
    assert not np.allclose(method.encode(SENTENCES), off, atol=1e-4)


def test_contrastive_prompting_with_zero_coefficient_is_prompteol(tiny_loaded):
    plain = _method("prompteol", tiny_loaded).encode(SENTENCES)
    off = _method("contrastive-prompting", tiny_loaded, coefficient=0.0, layer=-1, act_layer=1).encode(
        SENTENCES
    )
    np.testing.assert_allclose(off, plain, atol=1e-5)


def _o_proj_input(decoder, layer, batch, hook=None):
    captured = []
    o_proj = decoder.layers[layer].self_attn.o_proj
    context = hook(decoder, batch) if hook else torch.no_grad()
    with torch.no_grad(), context:
        handle = o_proj.register_forward_pre_hook(lambda m, args: captured.append(args[0][:, -1].clone()))
        try:
            _forward(decoder, batch)
        finally:
            handle.remove()
    return captured[0]


def test_contrastive_prompting_subtracts_the_scaled_auxiliary_attention(tiny_loaded):
    method = _method("contrastive-prompting", tiny_loaded, coefficient=0.7, act_layer=1, layer=-1)
    sentences = SENTENCES[:3]
    items = [method.to_item(s) for s in sentences]
    decoder = decoder_of(tiny_loaded.model)
    main = method.engine.make_batch(items)
    aux = method.engine.make_batch([method.auxiliary_item(s) for s in sentences])
    plain = _o_proj_input(decoder, 1, main)
    auxiliary = _o_proj_input(decoder, 1, aux)
    patched = _o_proj_input(decoder, 1, main, method.batch_hook(sentences, items))
    torch.testing.assert_close(patched, plain - 0.7 * auxiliary)


@pytest.mark.parametrize("name", ["token-prepending", "contrastive-prompting"])
def test_batch_size_does_not_change_embeddings(tiny_loaded, name):
    one = _method(name, tiny_loaded, batch_size=1, layer=-1).encode(SENTENCES)
    four = _method(name, tiny_loaded, batch_size=4, layer=-1).encode(SENTENCES)
    cosine = (one * four).sum(1) / np.linalg.norm(one, axis=1) / np.linalg.norm(four, axis=1)
    assert cosine.min() > 0.99999


def test_layer_defaults_scale_llama2_settings(tiny_loaded):
    from methods.patched import scaled_layer

    assert scaled_layer(27, tiny_loaded.model) == round(27 * 3 / 32)
    assert _method("token-prepending", tiny_loaded).readout().layer == 3


def test_unsupported_architecture_is_a_clear_error():
    with pytest.raises(ModelError, match="Llama-style"):
        decoder_layers(torch.nn.Linear(2, 2))


def test_icl_template_follows_promptEOL_demonstration_format(tiny_loaded):
    method = _method(
        "prompteol-icl", tiny_loaded, demo_sentence="A jockey riding a horse.", demo_word="Equestrian"
    )
    text, _ = method.render("A man sings")
    assert text == (
        'This sentence : "A jockey riding a horse." means in one word:"Equestrian".'
        'This sentence : "A man sings." means in one word:"'
    )


def test_icl_candidates_parse_and_rank_on_dev(tiny_loaded, tiny_data):
    from methods.icl import icl_candidates
    from methods.icl_select import rank_demonstrations

    candidates = icl_candidates()
    assert len(candidates) >= 10 and all(s and w for s, w in candidates)
    table = rank_demonstrations(lambda: tiny_loaded, tiny_data, pairs=6)
    assert len(table) == len(candidates)
    assert table["stsb_dev"].is_monotonic_decreasing
