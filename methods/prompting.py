"""Training-free LLM embeddings read from a prompt: mean pooling, PromptEOL, PretCoT, KE, echo.

One class does all of them: a template with a ``{sentence}`` slot, optional PromptEOL preprocessing,
a readout layer and a pooling (last token, or mean over all tokens or over the sentence's last copy).
Another template, layer or pooling is a config change, not new code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.config import MethodConfig, option
from bench.engine import BatchHook, EmbeddingEngine, EncodeItem, Readout
from bench.errors import BenchError
from bench.models import LoadedModel
from methods.base import METHODS, Method

SLOT = "{sentence}"

PROMPTEOL_TEMPLATE = 'This sentence : "{sentence}" means in one word:"'
PRETCOT_TEMPLATE = 'After thinking step by step , this sentence : "{sentence}" means in one word:"'
KE_TEMPLATE = (
    "The essence of a sentence is often captured by its main subjects and actions, while descriptive "
    "terms provide additional but less central details. With this in mind , this sentence : "
    '"{sentence}" means in one word:"'
)
# Echo embeddings (Springer et al. 2024): the sentence twice, pool over the second copy.
ECHO_TEMPLATE = "Rewrite the sentence: {sentence}, rewritten sentence: {sentence}"


def prompteol_preprocess(sentence: str) -> str:
    """PromptEOL's sentence clean-up: final punctuation, no double quotes, final '?' -> '.'."""
    s = sentence.strip()
    if s and s[-1] not in ".?\"'":
        s += "."
    s = s.replace('"', "'")
    if s and s[-1] == "?":
        s = s[:-1] + "."
    return s


@dataclass(frozen=True)
class PromptConfig(MethodConfig):
    template: str = option(PROMPTEOL_TEMPLATE, "prompt with a {sentence} slot")
    preprocess: bool = option(True, "apply PromptEOL's sentence preprocessing")
    layer: int = option(-1, "hidden_states index to read (-1 = last layer, after the final norm)")
    pooling: Literal["last", "mean"] = option("last", "last token, or mean over the pooled span")
    pool_over: Literal["all", "sentence"] = option(
        "all", "mean pooling span: all tokens, or the tokens of the sentence's last copy in the prompt"
    )


class PromptMethod(Method):
    """Embeddings read from a causal LM's hidden states under a prompt template."""

    Config = PromptConfig

    def __init__(self, config: PromptConfig, context) -> None:
        super().__init__(config, context)
        if SLOT not in config.template:
            raise BenchError(f"{self.name}: template must contain {SLOT}: {config.template!r}")
        self._model: LoadedModel | None = None
        self._engine: EmbeddingEngine | None = None

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
        return self.config.template  # type: ignore[attr-defined]

    def render(self, sentence: str) -> tuple[str, tuple[int, int]]:
        """The prompt text and the character span of the sentence's last copy in it."""
        cfg: PromptConfig = self.config  # type: ignore[assignment]
        sentence = prompteol_preprocess(sentence) if cfg.preprocess else sentence.strip()
        head, _, tail = self.template().rpartition(SLOT)
        prefix = head.replace(SLOT, sentence)
        return prefix + sentence + tail, (len(prefix), len(prefix) + len(sentence))

    def to_item(self, sentence: str) -> EncodeItem:
        cfg: PromptConfig = self.config  # type: ignore[assignment]
        text, (start, end) = self.render(sentence)
        tokenizer = self.causal_lm().tokenizer
        if cfg.pooling == "mean" and cfg.pool_over == "sentence":
            enc = tokenizer(text, return_offsets_mapping=True)
            inside = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if a < end and b > start and b > a]
            if not inside:
                raise BenchError(f"{self.name}: the sentence has no tokens in {text!r}")
            return EncodeItem(tuple(enc["input_ids"]), inside[0], inside[-1] + 1)
        return EncodeItem(tuple(tokenizer(text)["input_ids"]))

    def readout(self) -> Readout:
        cfg: PromptConfig = self.config  # type: ignore[assignment]
        return Readout(cfg.layer, cfg.pooling)

    def batch_hook(self, sentences: Sequence[str], items: list[EncodeItem]) -> BatchHook | None:
        """A forward-pass intervention for these inputs (None: a plain forward pass)."""
        return None

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        items = [self.to_item(s) for s in sentences]
        hook = self.batch_hook(sentences, items)
        return self.engine.encode(items, self.readout(), hook=hook, description=self.name)


def _prompt_method(name: str, description: str, config: type[PromptConfig]) -> type[PromptMethod]:
    cls = type(
        name.title().replace("-", ""),
        (PromptMethod,),
        {
            "name": name,
            "description": description,
            "Config": config,
            "__doc__": description,
        },
    )
    return METHODS.register(name)(cls)


@dataclass(frozen=True)
class MeanConfig(PromptConfig):
    template: str = option(SLOT, "prompt with a {sentence} slot (mean pooling uses the bare sentence)")
    preprocess: bool = option(False, "apply PromptEOL's sentence preprocessing")
    pooling: Literal["last", "mean"] = option("mean", "last token, or mean over the pooled span")


@dataclass(frozen=True)
class PretCoTConfig(PromptConfig):
    template: str = option(PRETCOT_TEMPLATE, "prompt with a {sentence} slot")
    layer: int = option(-2, "hidden_states index to read (-2: second-to-last layer, as its authors read it)")


@dataclass(frozen=True)
class KEConfig(PretCoTConfig):
    template: str = option(KE_TEMPLATE, "prompt with a {sentence} slot")


@dataclass(frozen=True)
class EchoConfig(PromptConfig):
    template: str = option(ECHO_TEMPLATE, "prompt with the {sentence} slot twice")
    preprocess: bool = option(False, "apply PromptEOL's sentence preprocessing")
    pooling: Literal["last", "mean"] = option("mean", "last token, or mean over the pooled span")
    pool_over: Literal["all", "sentence"] = option("sentence", "mean over the second copy of the sentence")


Mean = _prompt_method("mean", "mean pooling of the last layer over the bare sentence (no prompt)", MeanConfig)
PromptEOL = _prompt_method(
    "prompteol", "PromptEOL (Jiang et al. 2023): one-word prompt, last token of the last layer", PromptConfig
)
PretCoT = _prompt_method(
    "pretcot", "Pretended CoT (Zhang et al. 2024): step-by-step prompt, last token of layer -2", PretCoTConfig
)
KE = _prompt_method(
    "ke", "Knowledge Enhancement (Zhang et al. 2024): essence prompt, last token of layer -2", KEConfig
)
Echo = _prompt_method(
    "echo", "Echo embeddings (Springer et al. 2024): sentence twice, mean over the second copy", EchoConfig
)
