"""Typed configurations of the built-in methods, with the prompt texts they default to.

Kept apart from the method code and free of torch, so that listing methods (``bench ls``) and checking a
run's ``--set`` values happen before any model code is imported. A config's docstring is its method's
one-line description.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import ClassVar, Literal

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
CP_AUXILIARY = 'The irrelevant information of this sentence : "{sentence}" means in one word:"'

# MetaEOL (Lei et al., ACL 2024): eight meta-task prompts in one frame, strings as in the authors'
# evaluation.py (rivals-spec section 1): (task description, lead-in, what the word should capture).
METAEOL_FRAME = '{description} {lead}, this sentence : "{sentence}" {target} in one word:"'
_FOR_THIS_TASK = "For this task"
METAEOL_PROMPTS = (
    ("In this task, you're presented with a text excerpt. Your task is to categorize the excerpt into a "
     "broad category such as 'Education', 'Technology', 'Health', 'Business', 'Environment', 'Politics', "
     "or 'Culture'. These categories help in organizing content for better accessibility and targeting.",
     _FOR_THIS_TASK, "should be classified under one general category"),
    ("In this task, you're given a statement and you need to determine whether it's presenting an "
     "'Opinion' or a 'Fact'. This distinction is vital for information verification, educational "
     "purposes, and content analysis.", _FOR_THIS_TASK, "discriminates between opinion and fact"),
    ("In this task, you're given a review from an online platform. Your task is to generate a rating for "
     "the product based on the review on a scale of 1-5, where 1 means 'extremely negative' and 5 means "
     "'extremely positive'.", _FOR_THIS_TASK, "reflects the sentiment"),
    ("In this task, you're reading a personal diary entry. Your task is to identify the predominant "
     "emotion expressed, such as joy, sadness, anger, fear, or love.", _FOR_THIS_TASK, "conveys the emotion"),
    ("In this task, you're presented with two sentences. Your task is to assess whether the sentences "
     "convey the same meaning. Use 'identical', 'similar', 'different', or 'unrelated' to describe the "
     "relationship.", "To enhance the performance of this task", "means"),
    ("In this task, you're given a sentence and a phrase. Your task is to determine if the phrase can be a "
     "contextual synonym within the given sentence. Options include 'yes', 'no', or 'partially'.",
     "To enhance the performance of this task", "means"),
    ("In this task, you're examining a news article. Your task is to extract the most critical fact from "
     "the article.", _FOR_THIS_TASK, "encapsulates the key fact"),
    ("In this task, you're reviewing a scientific abstract. Your task is to identify the main entities "
     "(e.g., proteins, diseases) and their relations (e.g., causes, treats).", _FOR_THIS_TASK,
     "highlights the primary entity or relation"),
)  # fmt: skip

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
class PaperSettings:
    """A prompt's settings in the intervention papers, on LLaMA-2-7B (32 layers); methods scale positive
    layer indices to their model's depth (``round(l * n_layers / 32)``), negative ones count from the end.
    Sources: rivals-spec sections 2-3 (TP and CP papers, Sec. 5.1)."""

    readout: dict[str, int] = field(default_factory=lambda: {"none": -1, "tp": 27, "cp": 27})
    cp_layer: int = 4  # 0-based decoder layer (the paper's 5th)
    cp_alpha: float = 2.0


Intervention = Literal["none", "tp", "cp"]


@dataclass(frozen=True)
class PromptConfig(MethodConfig):
    """Embeddings read from a causal LM's hidden states under a prompt template."""

    # PromptEOL's: readout -1 plain, 27 under TP (TP paper) and CP (CP paper: layer 5, alpha 2)
    paper: ClassVar[PaperSettings] = PaperSettings()

    template: str = option(PROMPTEOL_TEMPLATE, "prompt with a {sentence} slot")
    preprocess: bool = option(True, "apply PromptEOL's sentence preprocessing")
    layer: int | None = option(
        -1, "hidden_states index to read (-1 = last layer, after the final norm; None: the papers' "
        "readout for this prompt and intervention, scaled to the model's depth)"
    )  # fmt: skip
    pooling: Literal["last", "mean"] = option("last", "last token, or mean over the pooled span")
    pool_over: Literal["all", "sentence"] = option(
        "all", "mean pooling span: all tokens, or the tokens of the sentence's last copy in the prompt"
    )
    intervention: Intervention = option(
        "none", "forward-pass intervention: tp (Token Prepending), cp (Contrastive Prompting)",
        keyed_only_if_changed=True,
    )  # fmt: skip
    tp_start_layer: int = option(
        1, "tp: first decoder layer (0-based) whose <PST> input is replaced (layer 0 reads the embedding)",
        at_least=1,
        keyed_only_if_changed=True,
    )  # fmt: skip
    tp_exit_layer: int | None = option(
        None, "tp: last such layer, inclusive (None: LLaMA-2's 7 of 32 scaled, the paper's 'stop after "
        "layer 8'); below tp_start_layer: off", keyed_only_if_changed=True,
    )  # fmt: skip
    cp_layer: int | None = option(
        None, "cp: decoder layer (0-based) whose o_proj input is contrasted (None: the paper's, scaled)",
        at_least=0, keyed_only_if_changed=True,
    )  # fmt: skip
    cp_alpha: float | None = option(
        None, "cp: scale alpha (None: the paper's for this prompt)", keyed_only_if_changed=True
    )
    cp_plan: Literal["scaled", "norm", "subtract"] = option(
        "scaled", "cp: scaled = alpha(v - v_aux) (paper's NS), norm = (v - v_aux)|v|/|v - v_aux| (NR), "
        "subtract = v - alpha v_aux (not in the paper)", keyed_only_if_changed=True,
    )  # fmt: skip
    cp_auxiliary: str = option(
        CP_AUXILIARY, "cp: auxiliary prompt with a {sentence} slot", keyed_only_if_changed=True
    )
    chat_readout: bool = option(
        False, "embed inside the model's chat template: the prompt as the user turn (SemPA's system turn), "
        "read at the end of the assistant header", keyed_only_if_changed=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if SLOT not in self.template:
            raise BenchError(f"config field 'template' must contain {SLOT}: {self.template!r}")
        placeholders = self.template.count(PLACEHOLDER)
        if placeholders and self.intervention != "tp":
            raise BenchError(f"config field 'template' has {PLACEHOLDER}, which only intervention=tp uses")
        if placeholders > 1:
            raise BenchError(f"config field 'template' must contain {PLACEHOLDER} at most once")
        if self.intervention != "none" and self.pooling != "last":
            raise BenchError(f"intervention={self.intervention} acts on the last token: needs pooling=last")
        if SLOT not in self.cp_auxiliary:
            raise BenchError(f"config field 'cp_auxiliary' must contain {SLOT}")

    def readout_layer(self, n_layers: int) -> int:
        """The hidden_states index to read on a model with ``n_layers`` decoder layers."""
        if self.layer is not None:
            return self.layer
        return scaled(self.paper.readout[self.intervention], n_layers)


REFERENCE_DEPTH = 32  # LLaMA-2-7B, where the papers' layer settings come from


def scaled(layer: int, n_layers: int) -> int:
    """A LLaMA-2-7B layer index on a model with ``n_layers`` layers (negative indices are kept)."""
    return layer if layer < 0 else round(layer * n_layers / REFERENCE_DEPTH)


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

    # its authors read -2; the TP and CP papers read 27 of 32, CP at layer 7 with alpha 3
    paper: ClassVar[PaperSettings] = PaperSettings({"none": -2, "tp": 27, "cp": 27}, cp_layer=6, cp_alpha=3.0)

    template: str = option(PRETCOT_TEMPLATE, "prompt with a {sentence} slot")
    layer: int | None = option(
        -2, "hidden_states index to read (-2: second-to-last layer, as its authors read it; None: the "
        "papers' readout for this prompt and intervention)"
    )  # fmt: skip


@dataclass(frozen=True)
class KEConfig(PretCoTConfig):
    """Knowledge Enhancement (Zhang et al. 2024): essence prompt, last token of layer -2"""

    # -2 everywhere (TP paper; CP's code forces -2 for KE), CP at layer 7 with alpha 3
    paper: ClassVar[PaperSettings] = PaperSettings({"none": -2, "tp": -2, "cp": -2}, cp_layer=6, cp_alpha=3.0)

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
class MetaEOLConfig(PromptConfig):
    """MetaEOL (Lei et al. 2024): plain mean of eight meta-task prompts' last-token states"""

    template: str = option(
        METAEOL_FRAME, "frame of the meta-task prompts: {description}, {lead}, {sentence}, {target} slots"
    )
    meta_prompts: str = option(
        "1,2,3,4,5,6,7,8", "which of the eight meta-task prompts to average ('+' also separates: 2+5)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        missing = [slot for slot in ("{description}", "{lead}", "{target}") if slot not in self.template]
        if missing:
            raise BenchError(f"config field 'template' (the MetaEOL frame) lacks {', '.join(missing)}")
        self.chosen_prompts()

    def chosen_prompts(self) -> list[tuple[str, str, str]]:
        """(description, lead, target) of each chosen meta-task prompt, in the order given."""
        try:
            numbers = [int(part) for part in re.split(r"[,+\s]+", self.meta_prompts.strip())]
        except ValueError:
            numbers = []
        if not numbers or any(not 1 <= n <= len(METAEOL_PROMPTS) for n in numbers):
            raise BenchError(
                f"config field 'meta_prompts': {self.meta_prompts!r} is not a list of 1-8 (e.g. 1,2 or 1+2)"
            )
        return [METAEOL_PROMPTS[n - 1] for n in numbers]


@dataclass(frozen=True)
class EnsembleConfig(MethodConfig):
    """ensemble: the mean of other methods' embeddings, each member encoded once"""

    members: str = option(
        "pretcot,ke", "registered methods, comma-separated; each may carry settings: name[field=value,...]"
    )
    combine: Literal["mean", "normalized-mean"] = option(
        "mean", "plain mean of the members' vectors (CK, MetaEOL), or mean of their unit vectors"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(parse_members(self.members)) < 1:
            raise BenchError("config field 'members' names no method")


def parse_members(text: str) -> list[tuple[str, dict[str, str]]]:
    """``"pretcot,ke[layer=-1,intervention=cp]"`` -> [("pretcot", {}), ("ke", {"layer": "-1", ...})]."""
    members: list[tuple[str, dict[str, str]]] = []
    for spec in _split_top_level(text):
        name, bracket, rest = spec.partition("[")
        name = name.strip()
        if not name or (bracket and not rest.endswith("]")):
            raise BenchError(f"config field 'members': {spec!r} is not name or name[field=value,...]")
        settings: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in rest[:-1].split(","))) if bracket else ():
            key, eq, value = pair.partition("=")
            if not eq or not key.strip():
                raise BenchError(f"config field 'members': {pair!r} in {spec!r} is not field=value")
            settings[key.strip()] = value.strip()
        members.append((name, settings))
    return members


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


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
    eval_every_samples: int | None = option(
        None, "score STS-B dev each time N more training samples are seen (None, or eval_every changed: "
        "every eval_every steps)", at_least=1, keyed_only_if_changed=True,
    )  # fmt: skip
    dev_pairs: int | None = option(None, "STS-B dev pairs used for selection (None: all 1,500)", at_least=3)
    weight_decay: float = option(0.0, "AdamW weight decay", at_least=0, keyed_only_if_changed=True)
    adam_beta2: float = option(0.999, "AdamW beta2", greater_than=0, less_than=1, keyed_only_if_changed=True)
    disable_dropout: bool = option(
        False, "switch every dropout (LoRA's too) off while training", keyed_only_if_changed=True
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        samples_set = self.eval_every_samples not in (None, _default(self, "eval_every_samples"))
        if samples_set and self.eval_every != _default(self, "eval_every"):
            raise BenchError("set eval_every (steps) or eval_every_samples, not both")

    def dev_interval_samples(self) -> int | None:
        """Samples between dev evaluations, or None to count ``eval_every`` steps: a changed
        ``eval_every`` wins over the default ``eval_every_samples``."""
        if self.eval_every != _default(self, "eval_every"):
            return None
        return self.eval_every_samples


def _default(config: MethodConfig, name: str):
    return next(f.default for f in dataclasses.fields(config) if f.name == name)


@dataclass(frozen=True)
class SempaConfig(TrainedConfig):
    """SemPA (2026): LoRA + sigmoid DPO on NLI paraphrase preferences, PromptEOL embedding"""

    paraphrase_prompt: Literal["P1", "P2", "P3", "P4", "P5"] = option("P1", "paraphrase prompt (spec P1-P5)")
    system_prompt: str = option("You are a helpful assistant", "system turn of the chat template")
    chat_template: bool = option(True, "wrap the prompt in the model's chat template when it has one")
    beta: float = option(0.1, "DPO inverse temperature", greater_than=0)
    # The authors' recipe (ms-swift DPO defaults; sempa-spec): no dropout, AdamW wd 0.1 and beta2 0.95, dev
    # every ~1,000 samples. `unkeyed_value` is the earlier default, so setting it finds earlier results.
    eval_every_samples: int | None = option(
        1000, "score STS-B dev each time N more training samples are seen (None, or eval_every changed: "
        "every eval_every steps)", at_least=1, unkeyed_value=None,
    )  # fmt: skip
    weight_decay: float = option(0.1, "AdamW weight decay (ms-swift: 0.1)", at_least=0, unkeyed_value=0.0)
    adam_beta2: float = option(
        0.95, "AdamW beta2 (ms-swift: 0.95)", greater_than=0, less_than=1, unkeyed_value=0.999
    )
    disable_dropout: bool = option(
        True, "switch every dropout (LoRA's too) off while training (trl / ms-swift DPO)", unkeyed_value=False
    )
    preference: Literal["nli", "reversed", "shuffled"] = option(
        "nli", "control: nli labels, chosen and rejected swapped, or each example's order shuffled (seeded)",
        keyed_only_if_changed=True,
    )  # fmt: skip
    loss: Literal["dpo", "sft"] = option(
        "dpo", "control: the preference loss, or plain NLL of the chosen response (SFT)",
        keyed_only_if_changed=True,
    )  # fmt: skip


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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.intervention != "none":
            raise BenchError("contrastive trains on plain prompt embeddings: intervention must be none")
