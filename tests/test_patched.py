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
    method = _method("token-prepending", tiny_loaded, tp_start_layer=2, tp_exit_layer=1, layer=-1)
    got = method.encode(SENTENCES[:1])
    item = method.to_item(SENTENCES[0])
    index = method._placeholder_index[item]
    decoder = decoder_of(tiny_loaded.model)
    with torch.no_grad():
        embeds = decoder.embed_tokens(torch.tensor([item.input_ids]))
        embeds[0, index] = decoder.embed_tokens.weight.mean(0)
        want = decoder(inputs_embeds=embeds).last_hidden_state[0, -1].numpy()
    np.testing.assert_allclose(got[0], want, atol=1e-5)


def _layer_inputs_under(method, sentences):
    items = [method.to_item(s) for s in sentences]
    hook = method.batch_hook(sentences, items)
    batch = method.engine.make_batch(items)
    decoder = decoder_of(method.causal_lm().model)
    with torch.no_grad(), hook(decoder, batch):
        inputs, handles = _capture_layer_inputs(decoder)  # registered after the method's hooks
        try:
            _forward(decoder, batch)
        finally:
            for handle in handles:
                handle.remove()
    width = batch.input_ids.shape[1]
    columns = [width - len(item.input_ids) + method._placeholder_index[item] for item in items]
    return inputs, columns


@pytest.mark.parametrize("name", ["token-prepending", "pretcot+tp", "ke+tp", "metaeol+tp"])
def test_token_prepending_copies_the_last_token_state_into_the_placeholder_up_to_the_exit(tiny_loaded, name):
    method = _method(name, tiny_loaded, tp_start_layer=1, tp_exit_layer=1, layer=-1)
    inputs, columns = _layer_inputs_under(method, SENTENCES[:2])
    for row, column in enumerate(columns):
        torch.testing.assert_close(inputs[1][row, column], inputs[1][row, -1])  # the patched layer
        assert not torch.allclose(inputs[2][row, column], inputs[2][row, -1])  # beyond the exit layer
    off = _method(name, tiny_loaded, tp_start_layer=1, tp_exit_layer=0, layer=-1).encode(SENTENCES)
    assert not np.allclose(method.encode(SENTENCES), off, atol=1e-4)


def test_token_prepending_leaves_the_tokens_before_the_placeholder_alone(tiny_loaded):
    template = 'Summarise : "{sentence}" in one word:"'  # a template no paper used
    on = _method("prompteol", tiny_loaded, template=template, intervention="tp", tp_exit_layer=2, layer=-1)
    assert on.render("A man sings", on.templates()[0])[0] == 'Summarise : <PST> "A man sings." in one word:"'
    off = _method("prompteol", tiny_loaded, template=template, intervention="tp", tp_exit_layer=0, layer=-1)
    patched, columns = _layer_inputs_under(on, SENTENCES[:2])
    plain, _ = _layer_inputs_under(off, SENTENCES[:2])
    for row, column in enumerate(columns):
        for layer in patched:
            torch.testing.assert_close(patched[layer][row, :column], plain[layer][row, :column])
        torch.testing.assert_close(patched[0][row, column], plain[0][row, column])  # layer 0: the embedding
        torch.testing.assert_close(patched[2][row, column], patched[2][row, -1])
    plain_method = _method("prompteol", tiny_loaded, template=template).encode(SENTENCES)
    none = _method("prompteol", tiny_loaded, template=template, intervention="none").encode(SENTENCES)
    np.testing.assert_array_equal(none, plain_method)  # switched off: exactly the plain method
    assert not np.allclose(on.encode(SENTENCES), none, atol=1e-4)


def test_token_prepending_on_llama2_depth_patches_layers_1_to_7():
    from types import SimpleNamespace

    from bench.core.engine import Batch, EncodeItem
    from bench.core.interventions import token_prepending
    from methods.configs import scaled
    from methods.patched import TP_EXIT_LAYER

    layers = torch.nn.ModuleList(torch.nn.Module() for _ in range(32))
    for layer in layers:
        layer.self_attn = SimpleNamespace(o_proj=torch.nn.Identity())
    decoder = SimpleNamespace(layers=layers, embed_tokens=torch.nn.Embedding(4, 2))
    item = EncodeItem((1, 2, 3))
    batch = Batch(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3), torch.arange(3)[None], [item])
    hook = token_prepending(lambda item: 0, torch.zeros(2), 1, scaled(TP_EXIT_LAYER, 32))
    with hook(decoder, batch):
        hooked = [i for i, layer in enumerate(layers) if layer._forward_pre_hooks]
    assert hooked == list(range(1, 8))  # the paper's "no TP after the 8th layer" (1-based 2..8)
    assert not any(layer._forward_pre_hooks for layer in layers)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("prompteol", 'This sentence : <PST> "A man sings." means in one word:"'),
        ("pretcot", 'After thinking step by step , this sentence : <PST> "A man sings." means in one word:"'),
        ("ke", "The essence of a sentence is often captured by its main subjects and actions, while "
               "descriptive terms provide additional but less central details. With this in mind , this "
               'sentence : <PST> "A man sings." means in one word:"'),
        ("prompteol-icl", 'This sentence : "A jockey." means in one word:"Horse".'
                          'This sentence : <PST> "A man sings." means in one word:"'),
    ],
)  # fmt: skip
def test_the_placeholder_goes_after_this_sentence_colon_before_the_quote(tiny_loaded, name, text):
    settings = {"demo_sentence": "A jockey.", "demo_word": "Horse"} if name == "prompteol-icl" else {}
    method = _method(name, tiny_loaded, intervention="tp", **settings)
    assert method.render("A man sings", method.templates()[0])[0] == text
    plain = _method(name, tiny_loaded, **settings)
    assert plain.render("A man sings")[0] == text.replace("<PST> ", "")


def test_intervention_none_is_the_plain_method_and_a_tp_preset_differs(tiny_loaded):
    plain = _method("pretcot", tiny_loaded).encode(SENTENCES)
    explicit = _method("pretcot", tiny_loaded, intervention="none").encode(SENTENCES)
    np.testing.assert_array_equal(plain, explicit)
    tp = _method("pretcot+tp", tiny_loaded, layer=-2).encode(SENTENCES)
    assert not np.allclose(plain, tp, atol=1e-4)


@pytest.mark.parametrize("name", ["contrastive-prompting", "pretcot+cp", "ke+cp"])
def test_contrastive_prompting_subtract_plan_with_zero_alpha_is_the_plain_prompt(tiny_loaded, name):
    base = {"contrastive-prompting": "prompteol", "pretcot+cp": "pretcot", "ke+cp": "ke"}[name]
    plain = _method(base, tiny_loaded, layer=-1).encode(SENTENCES)
    off = _method(name, tiny_loaded, cp_plan="subtract", cp_alpha=0.0, layer=-1, cp_layer=1).encode(SENTENCES)
    np.testing.assert_allclose(off, plain, atol=1e-5)


def _o_proj_inputs(decoder, batch, hook=None):
    """The input of every layer's o_proj (all positions) in one forward pass."""
    captured, handles = {}, []
    context = hook(decoder, batch) if hook else torch.no_grad()
    with torch.no_grad(), context:
        for index, layer in enumerate(decoder.layers):

            def grab(module, args, index=index):
                captured[index] = args[0].clone()

            handles.append(layer.self_attn.o_proj.register_forward_pre_hook(grab))
        try:
            _forward(decoder, batch)
        finally:
            for handle in handles:
                handle.remove()
    return captured


@pytest.mark.parametrize(
    ("name", "plan", "alpha"),
    [("contrastive-prompting", "scaled", 0.7), ("pretcot+cp", "scaled", 3.0), ("ke+cp", "norm", 1.0),
     ("contrastive-prompting", "subtract", 0.5)],
)  # fmt: skip
def test_contrastive_prompting_replaces_only_the_last_token_at_its_layer(tiny_loaded, name, plan, alpha):
    layer = 1
    method = _method(name, tiny_loaded, cp_plan=plan, cp_alpha=alpha, cp_layer=layer, layer=-1)
    sentences = SENTENCES[:3]
    items = [method.to_item(s) for s in sentences]
    decoder = decoder_of(tiny_loaded.model)
    main = method.engine.make_batch(items)
    aux = method.engine.make_batch([method.auxiliary_item(s) for s in sentences])
    plain = _o_proj_inputs(decoder, main)
    v_aux = _o_proj_inputs(decoder, aux)[layer][:, -1]
    patched = _o_proj_inputs(decoder, main, method.batch_hook(sentences, items))
    v = plain[layer][:, -1]
    want = {
        "scaled": alpha * (v - v_aux),
        "norm": (v - v_aux) * v.norm(dim=-1, keepdim=True) / (v - v_aux).norm(dim=-1, keepdim=True),
        "subtract": v - alpha * v_aux,
    }[plan]
    torch.testing.assert_close(patched[layer][:, -1], want)
    torch.testing.assert_close(patched[layer][:, :-1], plain[layer][:, :-1])  # other positions untouched
    torch.testing.assert_close(patched[0], plain[0])  # earlier layers untouched
    torch.testing.assert_close(patched[layer + 1][:, :-1], plain[layer + 1][:, :-1])  # causal: earlier tokens
    assert not torch.allclose(patched[layer + 1], plain[layer + 1])  # and the change flows on


@pytest.mark.parametrize("name", ["token-prepending", "contrastive-prompting", "metaeol+tp", "ck+cp"])
def test_batch_size_does_not_change_embeddings(tiny_loaded, name):
    one = _method(name, tiny_loaded, batch_size=1).encode(SENTENCES)
    four = _method(name, tiny_loaded, batch_size=4).encode(SENTENCES)
    cosine = (one * four).sum(1) / np.linalg.norm(one, axis=1) / np.linalg.norm(four, axis=1)
    assert cosine.min() > 0.99999


@pytest.mark.parametrize(
    ("name", "layer"),
    [("prompteol", -1), ("pretcot", -2), ("ke", -2), ("metaeol", -1), ("token-prepending", 3),
     ("contrastive-prompting", 3), ("pretcot+tp", 3), ("pretcot+cp", 3), ("ke+tp", -2), ("ke+cp", -2),
     ("metaeol+tp", 3)],
)  # fmt: skip
def test_readouts_follow_the_papers_scaled_to_depth(tiny_loaded, name, layer):
    assert _method(name, tiny_loaded).readout().layer == layer


def test_cp_defaults_are_each_prompts_paper_settings():
    from methods.configs import KEConfig, PretCoTConfig, PromptEOLConfig, scaled

    assert (PromptEOLConfig.paper.cp_layer, PromptEOLConfig.paper.cp_alpha) == (4, 2.0)  # the paper's layer 5
    assert (PretCoTConfig.paper.cp_layer, PretCoTConfig.paper.cp_alpha) == (6, 3.0)
    assert (KEConfig.paper.cp_layer, KEConfig.paper.cp_alpha) == (6, 3.0)
    assert [scaled(4, 30), scaled(27, 30), scaled(-2, 30)] == [4, 25, -2]


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


@pytest.mark.parametrize("preprocess", [True, False])
def test_the_auxiliary_prompt_receives_the_sentence_as_the_main_prompt_does(tiny_loaded, preprocess):
    method = _method("contrastive-prompting", tiny_loaded, preprocess=preprocess)
    padded, bare = "  A man plays a guitar.  ", "A man plays a guitar."
    assert method.auxiliary_item(padded) == method.auxiliary_item(bare)
    assert method.to_item(padded) == method.to_item(bare)


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("token-prepending", {"tp_start_layer": 1, "tp_exit_layer": 2}),
        ("metaeol+tp", {"tp_start_layer": 1, "tp_exit_layer": 2, "meta_prompts": "1,5"}),
        ("contrastive-prompting", {"cp_layer": 1, "cp_alpha": 2.0}),
        ("ke+cp", {"cp_layer": 2, "cp_alpha": 3.0}),
    ],
)
def test_interventions_keep_the_shared_prefix_cache_with_the_same_embeddings(tiny_loaded, name, overrides):
    cached = _method(name, tiny_loaded, layer=-1, **overrides)
    template = cached.templates()[0]
    items = [cached.to_item(s, template) for s in SENTENCES]
    hook = cached.batch_hook(SENTENCES, items)
    n_prefix = cached.engine.shared_prefix(items, cached.readout(), hook)
    assert n_prefix >= 2
    if cached.config.intervention == "tp":  # the placeholder and what follows are computed per batch
        assert n_prefix <= min(cached._placeholder_index[item] for item in items)
    whole = _method(name, tiny_loaded, layer=-1, **overrides)
    whole.engine.prefix_caching = False
    np.testing.assert_allclose(cached.encode(SENTENCES), whole.encode(SENTENCES), atol=1e-5, rtol=1e-4)
