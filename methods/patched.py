"""Training-free methods that change the forward pass: Token Prepending and Contrastive Prompting.

Both are PromptEOL-style prompt methods plus a batch hook from ``bench.core.interventions``; the engine is
the same. Layer defaults follow the papers' LLaMA-2-7B settings (32 layers) scaled to the model's depth:
``round(value * n_layers / 32)``; an explicit value overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from bench.core.engine import BatchHook, EncodeItem, Readout, decoder_of
from bench.core.errors import BenchError
from bench.core.interventions import contrastive_prompting, decoder_layers, token_prepending
from bench.core.method import RunContext
from bench.core.models import ModelShape
from methods.configs import PLACEHOLDER, SLOT, ContrastivePromptingConfig, TokenPrependingConfig
from methods.prompting import (
    PromptMethod,
    check_decoder_layer,
    check_hidden_state_index,
    prompteol_preprocess,
)

REFERENCE_DEPTH = 32  # LLaMA-2-7B, where the papers' layer settings come from


def num_layers(causal_lm) -> int:
    config = causal_lm.config
    value = getattr(config, "num_hidden_layers", None)
    return value if value is not None else config.get_text_config().num_hidden_layers


def scaled_layer(value: int, causal_lm) -> int:
    """A LLaMA-2-7B layer index scaled to this model's depth."""
    return round(value * num_layers(causal_lm) / REFERENCE_DEPTH)


LayerConfigT = TypeVar("LayerConfigT", TokenPrependingConfig, ContrastivePromptingConfig)


class _LayerDefaults(PromptMethod[LayerConfigT]):
    def readout(self) -> Readout:
        layer = self.config.layer
        if layer is None:
            layer = scaled_layer(27, self.causal_lm().model)
        return Readout(layer, self.config.pooling)


class TokenPrepending(_LayerDefaults[TokenPrependingConfig]):
    """Token Prepending (Fu et al., ACL 2025): a <PST> token carries the last token's state backwards."""

    name = "token-prepending"
    Config = TokenPrependingConfig

    @classmethod
    def check_model(cls, config: TokenPrependingConfig, shape: ModelShape) -> None:
        check_hidden_state_index(cls.name, "layer", config.layer, shape)
        check_decoder_layer(cls.name, "start_layer", config.start_layer, shape)
        if config.exit_layer is not None and config.exit_layer >= config.start_layer:  # below start: off
            check_decoder_layer(cls.name, "exit_layer", config.exit_layer, shape)

    def __init__(self, config: TokenPrependingConfig, context: RunContext) -> None:
        super().__init__(config, context)
        self._placeholder_index: dict[EncodeItem, int] = {}

    def to_item(self, sentence: str) -> EncodeItem:
        """Token ids with a stand-in id at the placeholder (its input embedding is replaced by the hook)."""
        cfg = self.config
        tokenizer = self.causal_lm().tokenizer
        text = cfg.template.replace(
            SLOT, prompteol_preprocess(sentence) if cfg.preprocess else sentence.strip()
        )
        head, _, tail = text.partition(PLACEHOLDER)
        head_ids = tokenizer(head)["input_ids"]
        stand_in = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.eos_token_id
        ids = (*head_ids, stand_in, *tokenizer(tail, add_special_tokens=False)["input_ids"])
        item = EncodeItem(tuple(ids))
        self._placeholder_index[item] = len(head_ids)
        return item

    def batch_hook(self, sentences: Sequence[str], items: list[EncodeItem]) -> BatchHook:
        cfg = self.config
        model = self.causal_lm().model
        embed = checked_decoder(model).embed_tokens
        # a new token's embedding as transformers initialises it: the mean of the vocabulary's
        placeholder = embed.weight.detach().mean(0) * float(getattr(embed, "embed_scale", 1.0))
        exit_layer = cfg.exit_layer if cfg.exit_layer is not None else scaled_layer(7, model)
        return token_prepending(self._placeholder_index.__getitem__, placeholder, cfg.start_layer, exit_layer)


class ContrastivePrompting(_LayerDefaults[ContrastivePromptingConfig]):
    """Contrastive Prompting (Cheng et al., 2025): subtract an 'irrelevant information' prompt's attention."""

    name = "contrastive-prompting"
    Config = ContrastivePromptingConfig

    @classmethod
    def check_model(cls, config: ContrastivePromptingConfig, shape: ModelShape) -> None:
        check_hidden_state_index(cls.name, "layer", config.layer, shape)
        check_decoder_layer(cls.name, "act_layer", config.act_layer, shape)

    def auxiliary_item(self, sentence: str) -> EncodeItem:
        cfg = self.config
        text = cfg.auxiliary_template.replace(
            SLOT, prompteol_preprocess(sentence) if cfg.preprocess else sentence
        )
        return EncodeItem(tuple(self.causal_lm().tokenizer(text)["input_ids"]))

    def batch_hook(self, sentences: Sequence[str], items: list[EncodeItem]) -> BatchHook:
        cfg = self.config
        model = self.causal_lm().model
        auxiliary = {item: self.auxiliary_item(s) for s, item in zip(sentences, items, strict=True)}
        act_layer = cfg.act_layer if cfg.act_layer is not None else scaled_layer(4, model)
        if not 0 <= act_layer < num_layers(model):
            raise BenchError(f"{self.name}: act_layer {act_layer} outside 0..{num_layers(model) - 1}")

        def auxiliary_batch(batch):
            return self.engine.make_batch([auxiliary[item] for item in batch.items])

        return contrastive_prompting(auxiliary_batch, act_layer, cfg.coefficient)


def checked_decoder(causal_lm):
    """The decoder (checked to be a supported layout)."""
    decoder = decoder_of(causal_lm)
    decoder_layers(decoder)
    return decoder
