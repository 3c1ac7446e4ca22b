"""Typed configurations of the built-in methods, with the prompt texts they default to.

Kept apart from the method code and free of torch, so that listing methods (``bench ls``) and checking a
run's ``--set`` values happen before any model code is imported. A config's docstring is its method's
one-line description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.core.config import MethodConfig, option
from bench.core.errors import BenchError

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

PLACEHOLDER = "<PST>"
TP_TEMPLATE = 'This sentence : <PST> "{sentence}" means in one word:"'
CP_AUXILIARY = 'The irrelevant information of this sentence : "{sentence}" means in one word:"'

# Chosen on STS-B dev (first 500 pairs, SmolLM2-135M-Instruct) from the 16 candidates by
# `python -m methods.icl_select --pairs 500`: 85.21, against 83.71 for the first candidate and 74.61 for
# the worst. Another model may prefer another demonstration: rerun the selection and --set the fields.
DEFAULT_SENTENCE = "People are waiting in line at the bank."
DEFAULT_WORD = "Queue"

# SemPA's paraphrase prompts (P1 is the paper's default; P2-P5 its prompt ablation).
PARAPHRASE_PROMPTS = {
    "P1": 'Keep the same meaning of this sentence: "{s}", while making some changes.',
    "P2": 'Generate a paraphrase of this sentence: "{s}" that preserves its meaning, '
    "while making some changes.",
    "P3": 'Keep the main meaning of this sentence: "{s}", and rewrite it in a different way.',
    "P4": 'Generate a paraphrase of the sentence: "{s}".',
    "P5": 'Rewrite the sentence: "{s}" while preserving its main meaning, but the wording may be simplified '
    "or rephrased.",
}


@dataclass(frozen=True)
class PromptConfig(MethodConfig):
    """Embeddings read from a causal LM's hidden states under a prompt template."""

    template: str = option(PROMPTEOL_TEMPLATE, "prompt with a {sentence} slot")
    preprocess: bool = option(True, "apply PromptEOL's sentence preprocessing")
    layer: int = option(-1, "hidden_states index to read (-1 = last layer, after the final norm)")
    pooling: Literal["last", "mean"] = option("last", "last token, or mean over the pooled span")
    pool_over: Literal["all", "sentence"] = option(
        "all", "mean pooling span: all tokens, or the tokens of the sentence's last copy in the prompt"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if SLOT not in self.template:
            raise BenchError(f"config field 'template' must contain {SLOT}: {self.template!r}")


@dataclass(frozen=True)
class PromptEOLConfig(PromptConfig):
    """PromptEOL (Jiang et al. 2023): one-word prompt, last token of the last layer"""


@dataclass(frozen=True)
class MeanConfig(PromptConfig):
    """mean pooling of the last layer over the bare sentence (no prompt)"""

    template: str = option(SLOT, "prompt with a {sentence} slot (mean pooling uses the bare sentence)")
    preprocess: bool = option(False, "apply PromptEOL's sentence preprocessing")
    pooling: Literal["last", "mean"] = option("mean", "last token, or mean over the pooled span")


@dataclass(frozen=True)
class PretCoTConfig(PromptConfig):
    """Pretended CoT (Zhang et al. 2024): step-by-step prompt, last token of layer -2"""

    template: str = option(PRETCOT_TEMPLATE, "prompt with a {sentence} slot")
    layer: int = option(-2, "hidden_states index to read (-2: second-to-last layer, as its authors read it)")


@dataclass(frozen=True)
class KEConfig(PretCoTConfig):
    """Knowledge Enhancement (Zhang et al. 2024): essence prompt, last token of layer -2"""

    template: str = option(KE_TEMPLATE, "prompt with a {sentence} slot")


@dataclass(frozen=True)
class EchoConfig(PromptConfig):
    """Echo embeddings (Springer et al. 2024): sentence twice, mean over the second copy"""

    template: str = option(ECHO_TEMPLATE, "prompt with the {sentence} slot twice")
    preprocess: bool = option(False, "apply PromptEOL's sentence preprocessing")
    pooling: Literal["last", "mean"] = option("mean", "last token, or mean over the pooled span")
    pool_over: Literal["all", "sentence"] = option("sentence", "mean over the second copy of the sentence")


@dataclass(frozen=True)
class ICLConfig(PromptConfig):
    """PromptEOL with one in-context demonstration (sentence and word) before the template"""

    demo_sentence: str = option(DEFAULT_SENTENCE, "demonstration sentence")
    demo_word: str = option(DEFAULT_WORD, "its one-word answer")


@dataclass(frozen=True)
class TokenPrependingConfig(PromptConfig):
    """Token Prepending (Fu et al. 2025): <PST> gets the previous layer's last-token state"""

    template: str = option(TP_TEMPLATE, "prompt with a {sentence} slot and the <PST> placeholder")
    layer: int | None = option(None, "hidden_states index to read (None: LLaMA-2's 27 of 32, scaled)")
    start_layer: int = option(1, "first decoder layer whose <PST> input is replaced", at_least=0)
    exit_layer: int | None = option(None, "last such layer (None: LLaMA-2's 7 of 32, scaled; < start: off)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.template.count(PLACEHOLDER) != 1:
            raise BenchError(f"config field 'template' must contain {PLACEHOLDER} once: {self.template!r}")


@dataclass(frozen=True)
class ContrastivePromptingConfig(PromptConfig):
    """Contrastive Prompting (Cheng et al. 2025): minus an auxiliary prompt's attention output"""

    layer: int | None = option(None, "hidden_states index to read (None: LLaMA-2's 27 of 32, scaled)")
    auxiliary_template: str = option(CP_AUXILIARY, "auxiliary prompt with a {sentence} slot")
    act_layer: int | None = option(
        None, "decoder layer of the subtraction (None: LLaMA-2's 4 of 32, scaled)", at_least=0
    )
    coefficient: float = option(0.5, "scale of the subtracted auxiliary attention output (0: off)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if SLOT not in self.auxiliary_template:
            raise BenchError(f"config field 'auxiliary_template' must contain {SLOT}")


@dataclass(frozen=True)
class SBERTConfig(MethodConfig):
    """SBERT all-MiniLM-L6-v2 (sentence-transformers), the non-LLM reference; ignores --model"""

    model_path: str = option("", "sentence-transformers model folder or hub id ('' = the packaged MiniLM)")
    normalize: bool = option(False, "L2-normalise embeddings (cosine scores are unchanged)")


@dataclass(frozen=True)
class TrainedConfig(PromptConfig):
    """PromptEOL readout (inherited) plus the training recipe; every field enters the adapter's cache key."""

    train_samples: int | None = option(
        None, "cap on training examples after shuffling (None: all)", at_least=1
    )
    heldout: int = option(200, "premises held out of training to measure preference accuracy", at_least=0)
    lora_r: int = option(8, "LoRA rank", at_least=1)
    lora_alpha: int = option(32, "LoRA alpha", greater_than=0)
    lora_dropout: float = option(0.05, "LoRA dropout", at_least=0, less_than=1)
    lora_targets: str = option("all-linear", "peft target_modules ('all-linear' or comma-separated names)")
    learning_rate: float = option(1e-4, "AdamW peak learning rate", greater_than=0)
    warmup_ratio: float = option(
        0.05, "share of steps with linear warm-up (cosine decay after)", at_least=0, at_most=1
    )
    epochs: int = option(1, "passes over the training data", at_least=1)
    train_batch_size: int = option(8, "examples per forward pass (micro-batch)", at_least=1)
    grad_accum: int = option(
        32, "micro-batches per optimizer step (effective batch = product; paper 256)", at_least=1
    )
    max_grad_norm: float = option(1.0, "gradient clipping", greater_than=0)
    eval_every: int = option(
        78, "score STS-B dev every N steps and keep the best adapter (paper: 78)", at_least=1
    )
    dev_pairs: int | None = option(None, "STS-B dev pairs used for selection (None: all 1,500)", at_least=3)


@dataclass(frozen=True)
class SempaConfig(TrainedConfig):
    """SemPA (2026): LoRA + sigmoid DPO on NLI paraphrase preferences, PromptEOL embedding"""

    paraphrase_prompt: Literal["P1", "P2", "P3", "P4", "P5"] = option("P1", "paraphrase prompt (spec P1-P5)")
    system_prompt: str = option("You are a helpful assistant", "system turn of the chat template")
    chat_template: bool = option(True, "wrap the prompt in the model's chat template when it has one")
    beta: float = option(0.1, "DPO inverse temperature", greater_than=0)


@dataclass(frozen=True)
class SempaPLConfig(SempaConfig):
    """SemPA-PL: Plackett-Luce listwise DPO on entailment > neutral > contradiction lists"""

    top1_only: bool = option(False, "keep only the first Plackett-Luce factor (InfoNCE form)")
    in_batch_negatives: bool = option(False, "other premises' best responses join every denominator")


@dataclass(frozen=True)
class ContrastiveConfig(TrainedConfig):
    """contrastive fine-tuning (PromptEOL-CL): LoRA + InfoNCE on PromptEOL embeddings, tau 0.05"""

    lora_r: int = option(64, "LoRA rank (PromptEOL-CL: 64)", at_least=1)
    lora_alpha: int = option(16, "LoRA alpha (PromptEOL-CL: 16)", greater_than=0)
    learning_rate: float = option(5e-4, "AdamW peak learning rate (PromptEOL-CL: 5e-4)", greater_than=0)
    temperature: float = option(0.05, "InfoNCE temperature tau (cosine / tau)", greater_than=0)
    hard_negatives: bool = option(True, "add each premise's contradiction as a hard negative")
