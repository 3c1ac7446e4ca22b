"""Token Prepending and Contrastive Prompting as options of every prompt method (``intervention=tp|cp``).

The hooks themselves are in ``bench.core.interventions``; this module says where ``<PST>`` goes in a
template, builds the token ids around it, and turns a config's TP/CP fields (their ``None`` defaults: the
papers' LLaMA-2-7B settings scaled to the model's depth) into a batch hook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.core.engine import Batch, BatchHook, EncodeItem, decoder_of
from bench.core.interventions import contrastive_prompting, decoder_layers, token_prepending
from methods.configs import PLACEHOLDER, SLOT, PromptConfig, scaled

TP_EXIT_LAYER = 7  # LLaMA-2-7B, 0-based and inclusive: the TP paper's "no TP after the 8th layer"


def with_placeholder(template: str) -> str:
    """The template with ``<PST>`` where the TP paper puts it: after "this sentence :", before the
    opening quote of the (last) sentence slot; a template that already has ``<PST>`` is kept."""
    if PLACEHOLDER in template:
        return template
    at = template.rfind(f'"{SLOT}"')
    if at < 0:
        at = template.rfind(SLOT)
    return f"{template[:at]}{PLACEHOLDER} {template[at:]}"


def placeholder_item(tokenizer: Any, text: str, add_special_tokens: bool = True) -> tuple[EncodeItem, int]:
    """Token ids of ``text`` with a stand-in id at ``<PST>`` (the hook replaces its embedding), and the
    stand-in's position."""
    head, _, tail = text.partition(PLACEHOLDER)
    head_ids = tokenizer(head, add_special_tokens=add_special_tokens)["input_ids"]
    stand_in = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.eos_token_id
    ids = (*head_ids, stand_in, *tokenizer(tail, add_special_tokens=False)["input_ids"])
    return EncodeItem(tuple(ids)), len(head_ids)


def num_layers(causal_lm: Any) -> int:
    config = causal_lm.config
    value = getattr(config, "num_hidden_layers", None)
    return value if value is not None else config.get_text_config().num_hidden_layers


def token_prepending_hook(
    config: PromptConfig, causal_lm: Any, index_of: Callable[[EncodeItem], int]
) -> BatchHook:
    """TP with the config's layers; ``<PST>`` starts as the mean of the vocabulary's embeddings (how
    transformers initialises a new token's row; the TP paper finds the initialisation does not matter)."""
    embed = checked_decoder(causal_lm).embed_tokens
    placeholder = embed.weight.detach().mean(0) * float(getattr(embed, "embed_scale", 1.0))
    exit_layer = config.tp_exit_layer
    if exit_layer is None:
        exit_layer = scaled(TP_EXIT_LAYER, num_layers(causal_lm))
    return token_prepending(index_of, placeholder, config.tp_start_layer, exit_layer)


def contrastive_prompting_hook(
    config: PromptConfig,
    causal_lm: Any,
    auxiliary_of: dict[EncodeItem, EncodeItem],
    make_batch: Callable[[Sequence[EncodeItem]], Batch],
) -> BatchHook:
    """CP with the config's layer, alpha and plan (``None``: the prompt's paper settings)."""
    paper = config.paper
    layer = config.cp_layer if config.cp_layer is not None else scaled(paper.cp_layer, num_layers(causal_lm))
    alpha = config.cp_alpha if config.cp_alpha is not None else paper.cp_alpha

    def auxiliary_batch(batch: Batch) -> Batch:
        return make_batch([auxiliary_of[item] for item in batch.items])

    return contrastive_prompting(auxiliary_batch, layer, alpha, config.cp_plan)


def checked_decoder(causal_lm: Any) -> Any:
    """The decoder (checked to be a supported layout)."""
    decoder = decoder_of(causal_lm)
    decoder_layers(decoder)
    return decoder
