"""Training-free LLM embeddings read from a prompt: mean pooling, PromptEOL, PretCoT, KE, echo, MetaEOL.

One class does all of them: one or more templates with a ``{sentence}`` slot (several: their embeddings
are averaged), optional PromptEOL preprocessing, a readout layer, a pooling (last token, or mean over all
tokens or over the sentence's last copy) and an optional forward-pass intervention (Token Prepending or
Contrastive Prompting, ``methods.patched``). Another template, layer, pooling or intervention is a config
change, not new code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from bench.core.engine import BatchHook, EmbeddingEngine, EncodeItem, Readout
from bench.core.errors import BenchError
from bench.core.method import Method, RunContext
from bench.core.models import LoadedModel, ModelShape
from bench.core.progress import warn
from bench.core.sequences import ChatFormatter
from methods.configs import (
    SLOT,
    EchoConfig,
    KEConfig,
    MeanConfig,
    MetaEOLConfig,
    PretCoTConfig,
    PromptConfig,
    PromptEOLConfig,
)
from methods.patched import (
    contrastive_prompting_hook,
    num_layers,
    placeholder_item,
    token_prepending_hook,
    with_placeholder,
)


def prompteol_preprocess(sentence: str) -> str:
    """PromptEOL's sentence clean-up: final punctuation, no double quotes, final '?' -> '.'."""
    s = sentence.strip()
    if s and s[-1] not in ".?\"'":
        s += "."
    s = s.replace('"', "'")
    if s and s[-1] == "?":
        s = s[:-1] + "."
    return s


PromptConfigT = TypeVar("PromptConfigT", bound=PromptConfig)

READOUT_SYSTEM_PROMPT = "You are a helpful assistant"  # SemPA's training system turn (chat_readout)


def check_hidden_state_index(method: str, field: str, value: int | None, shape: ModelShape) -> None:
    """``value`` must index ``hidden_states`` of this model: -(n+1)..n for n decoder layers."""
    n = shape.n_layers
    if value is not None and not -(n + 1) <= value <= n:
        raise BenchError(
            f"{method}: {field}={value} is outside the hidden_states indices -{n + 1}..{n} of "
            f"{shape.name} ({n} decoder layers); pass --set {method}.{field}=N within that range"
        )


def check_decoder_layer(method: str, field: str, value: int | None, shape: ModelShape) -> None:
    """``value`` must name a decoder layer of this model: 0..n-1."""
    n = shape.n_layers
    if value is not None and not 0 <= value < n:
        raise BenchError(
            f"{method}: {field}={value} is not a decoder layer of {shape.name} (0..{n - 1}); "
            f"pass --set {method}.{field}=N within that range"
        )


class PromptMethod(Method[PromptConfigT]):
    """Embeddings read from a causal LM's hidden states under a prompt template."""

    Config = PromptConfig

    @classmethod
    def check_model(cls, config: PromptConfig, shape: ModelShape) -> None:
        check_hidden_state_index(cls.name, "layer", config.layer, shape)
        if config.intervention == "tp":
            check_decoder_layer(cls.name, "tp_start_layer", config.tp_start_layer, shape)
            if config.tp_exit_layer is not None and config.tp_exit_layer >= config.tp_start_layer:
                check_decoder_layer(cls.name, "tp_exit_layer", config.tp_exit_layer, shape)  # below: off
        if config.intervention == "cp":
            check_decoder_layer(cls.name, "cp_layer", config.cp_layer, shape)

    def __init__(self, config: PromptConfigT, context: RunContext) -> None:
        super().__init__(config, context)
        self._model: LoadedModel | None = None
        self._engine: EmbeddingEngine | None = None
        self._placeholder_index: dict[EncodeItem, int] = {}

    def causal_lm(self) -> LoadedModel:
        if self._model is None:
            self._model = self.context.load_model()
        return self._model

    @property
    def engine(self) -> EmbeddingEngine:
        if self._engine is None:
            model = self.causal_lm()
            self._engine = EmbeddingEngine(
                model.model,
                model.tokenizer.pad_token_id,
                batch_size=self.context.batch_size,
                show_progress=self.context.show_progress,
            )
        return self._engine

    def template(self) -> str:
        """The full prompt template (a subclass may build it from several config fields)."""
        return self.config.template

    def templates(self) -> list[str]:
        """The prompt templates whose embeddings are averaged (one for most methods), with ``<PST>``
        in place when the intervention is Token Prepending."""
        templates = self.base_templates()
        return [with_placeholder(t) for t in templates] if self.config.intervention == "tp" else templates

    def base_templates(self) -> list[str]:
        return [self.template()]

    def prepared(self, sentence: str) -> str:
        """The sentence as every prompt of this method gets it (PromptEOL's preprocessing, or stripped)."""
        return prompteol_preprocess(sentence) if self.config.preprocess else sentence.strip()

    def render(self, sentence: str, template: str | None = None) -> tuple[str, tuple[int, int]]:
        """The prompt text and the character span of the sentence's last copy in it (inside the chat
        template's user turn with ``chat_readout``)."""
        cfg = self.config
        sentence = self.prepared(sentence)
        head, _, tail = (template or self.templates()[0]).rpartition(SLOT)
        prefix = head.replace(SLOT, sentence)
        text, span = prefix + sentence + tail, (len(prefix), len(prefix) + len(sentence))
        if not cfg.chat_readout:
            return text, span
        wrapped = self.chat_formatter().prompt_text(text)
        shift = wrapped.rfind(text)
        return wrapped, (span[0] + shift, span[1] + shift)

    def chat_formatter(self) -> ChatFormatter:
        """The model's chat template with SemPA's system turn (``chat_readout``)."""
        tokenizer = self.causal_lm().tokenizer
        if not getattr(tokenizer, "chat_template", None):
            raise BenchError(f"{self.name}: chat_readout=true, the tokenizer has no chat template")
        return ChatFormatter(tokenizer, READOUT_SYSTEM_PROMPT)

    def token_ids(self, text: str) -> list[int]:
        """Token ids of a rendered prompt (a chat template writes its own special tokens)."""
        return self.causal_lm().tokenizer(text, add_special_tokens=not self.config.chat_readout)["input_ids"]

    def to_item(self, sentence: str, template: str | None = None) -> EncodeItem:
        cfg = self.config
        text, (start, end) = self.render(sentence, template)
        tokenizer = self.causal_lm().tokenizer
        if cfg.intervention == "tp":
            item, index = placeholder_item(tokenizer, text, add_special_tokens=not cfg.chat_readout)
            self._placeholder_index[item] = index
            return item
        if cfg.pooling == "mean" and cfg.pool_over == "sentence":
            enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=not cfg.chat_readout)
            inside = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if a < end and b > start and b > a]
            if not inside:
                raise BenchError(f"{self.name}: the sentence has no tokens in {text!r}")
            return EncodeItem(tuple(enc["input_ids"]), inside[0], inside[-1] + 1)
        return EncodeItem(tuple(self.token_ids(text)))

    def auxiliary_item(self, sentence: str) -> EncodeItem:
        """Contrastive Prompting's auxiliary prompt for ``sentence``."""
        cfg = self.config
        text = cfg.cp_auxiliary.replace(SLOT, self.prepared(sentence))
        if cfg.chat_readout:
            text = self.chat_formatter().prompt_text(text)
        return EncodeItem(tuple(self.token_ids(text)))

    def readout(self) -> Readout:
        cfg = self.config
        return Readout(cfg.readout_layer(num_layers(self.causal_lm().model)), cfg.pooling)

    def batch_hook(self, sentences: Sequence[str], items: list[EncodeItem]) -> BatchHook | None:
        """The configured forward-pass intervention for these inputs (None: a plain forward pass)."""
        cfg = self.config
        model = self.causal_lm().model
        if cfg.intervention == "tp":
            return token_prepending_hook(cfg, model, self._placeholder_index.__getitem__)
        if cfg.intervention == "cp":
            auxiliary = {item: self.auxiliary_item(s) for s, item in zip(sentences, items, strict=True)}
            return contrastive_prompting_hook(cfg, model, auxiliary, self.engine.make_batch)
        return None

    def context_length(self) -> int | None:
        """The model's context length in tokens (None: unknown)."""
        config = self.causal_lm().model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        return getattr(text, "max_position_embeddings", None)

    def fit_to_context(self, sentence: str, limit: int, template: str | None = None) -> str:
        """The sentence cut at a token boundary so that its input (prompt included) fits ``limit`` tokens."""
        tokenizer = self.causal_lm().tokenizer
        ids = tokenizer(sentence, add_special_tokens=False)["input_ids"]
        keep = len(ids)
        while keep > 1:
            overflow = len(self.to_item(sentence, template).input_ids) - limit
            if overflow <= 0:
                break
            keep = max(1, keep - overflow)
            sentence = tokenizer.decode(ids[:keep])
        return sentence

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        per_template = [self.encode_with(template, sentences) for template in self.templates()]
        if len(per_template) == 1:
            return per_template[0]
        return np.mean(np.stack(per_template), axis=0, dtype=np.float64).astype(np.float32)

    def encode_with(self, template: str, sentences: Sequence[str]) -> np.ndarray:
        """Embeddings of ``sentences`` under one template (too-long inputs truncated to the context)."""
        self._placeholder_index = {}  # this call's items only (the TP hook reads it)
        fitted = list(sentences)
        items = [self.to_item(s, template) for s in fitted]
        limit = self.context_length()
        too_long = [i for i, item in enumerate(items) if limit is not None and len(item.input_ids) > limit]
        if too_long:
            assert limit is not None
            for i in too_long:
                fitted[i] = self.fit_to_context(fitted[i], limit, template)
                items[i] = self.to_item(fitted[i], template)
            warn(
                f"{self.name}: {len(too_long)} of {len(sentences)} sentences are longer than the model's "
                f"context ({limit} tokens with the prompt) and were truncated"
            )
        hook = self.batch_hook(fitted, items)
        return self.engine.encode(items, self.readout(), hook=hook, description=self.name)


class Mean(PromptMethod[MeanConfig]):
    name = "mean"
    Config = MeanConfig


class PromptEOL(PromptMethod[PromptEOLConfig]):
    name = "prompteol"
    Config = PromptEOLConfig


class PretCoT(PromptMethod[PretCoTConfig]):
    name = "pretcot"
    Config = PretCoTConfig


class KE(PromptMethod[KEConfig]):
    name = "ke"
    Config = KEConfig


class Echo(PromptMethod[EchoConfig]):
    name = "echo"
    Config = EchoConfig


class MetaEOL(PromptMethod[MetaEOLConfig]):
    """MetaEOL: one forward pass per meta-task prompt, last-token states averaged (no normalisation)."""

    name = "metaeol"
    Config = MetaEOLConfig

    def base_templates(self) -> list[str]:
        frame = self.config.template
        return [
            frame.replace("{description}", description).replace("{lead}", lead).replace("{target}", target)
            for description, lead, target in self.config.chosen_prompts()
        ]
