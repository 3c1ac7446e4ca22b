"""Trained methods: SemPA (sentence-level DPO), SemPA-PL (listwise, Plackett-Luce) and contrastive
fine-tuning (PromptEOL-CL). All three train a LoRA adapter with ``bench.trainer`` and then embed with
the PromptEOL template and readout on the adapted model; only the objective differs.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from bench.adapters import AdapterFolder, adapter_key
from bench.config import option
from bench.engine import Readout
from bench.errors import BenchError
from bench.models import LoadedModel
from bench.nli import NLIData, load_nli
from bench.objectives import ContrastiveObjective, Objective, PreferenceObjective, pairwise_dpo, plackett_luce
from bench.progress import console
from bench.provenance import file_checksums
from bench.sequences import ChatFormatter
from bench.trainer import LoraSettings, Trainer, TrainSettings, attach_lora
from methods.base import METHODS
from methods.prompting import PromptConfig, PromptMethod

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
class TrainedConfig(PromptConfig):
    """PromptEOL readout (inherited) plus the training recipe; every field enters the adapter's cache key."""

    train_samples: int | None = option(None, "cap on training examples after shuffling (None: all)")
    heldout: int = option(200, "premises held out of training to measure preference accuracy")
    lora_r: int = option(8, "LoRA rank")
    lora_alpha: int = option(32, "LoRA alpha")
    lora_dropout: float = option(0.05, "LoRA dropout")
    lora_targets: str = option("all-linear", "peft target_modules ('all-linear' or comma-separated names)")
    learning_rate: float = option(1e-4, "AdamW peak learning rate")
    warmup_ratio: float = option(0.05, "share of steps with linear warm-up (cosine decay after)")
    epochs: int = option(1, "passes over the training data")
    train_batch_size: int = option(8, "examples per forward pass (micro-batch)")
    grad_accum: int = option(32, "micro-batches per optimizer step (effective batch = product; paper 256)")
    max_grad_norm: float = option(1.0, "gradient clipping")
    eval_every: int = option(78, "score STS-B dev every N steps and keep the best adapter (paper: 78)")
    dev_pairs: int | None = option(None, "STS-B dev pairs used for selection (None: all 1,500)")


@dataclass(frozen=True)
class SempaConfig(TrainedConfig):
    paraphrase_prompt: Literal["P1", "P2", "P3", "P4", "P5"] = option("P1", "paraphrase prompt (spec P1-P5)")
    system_prompt: str = option("You are a helpful assistant", "system turn of the chat template")
    chat_template: bool = option(True, "wrap the prompt in the model's chat template when it has one")
    beta: float = option(0.1, "DPO inverse temperature")


@dataclass(frozen=True)
class SempaPLConfig(SempaConfig):
    top1_only: bool = option(False, "keep only the first Plackett-Luce factor (InfoNCE form)")
    in_batch_negatives: bool = option(False, "other premises' best responses join every denominator")


@dataclass(frozen=True)
class ContrastiveConfig(TrainedConfig):
    """PromptEOL's fine-tuning recipe where it differs from SemPA's (LoRA r 64, alpha 16, lr 5e-4)."""

    lora_r: int = option(64, "LoRA rank (PromptEOL-CL: 64)")
    lora_alpha: int = option(16, "LoRA alpha (PromptEOL-CL: 16)")
    learning_rate: float = option(5e-4, "AdamW peak learning rate (PromptEOL-CL: 5e-4)")
    temperature: float = option(0.05, "InfoNCE temperature tau (cosine / tau)")
    hard_negatives: bool = option(True, "add each premise's contradiction as a hard negative")


class TrainedMethod(PromptMethod):
    """Trains (or reuses from the cache) a LoRA adapter in ``prepare``; embeds like PromptEOL after."""

    trains: ClassVar[bool] = True
    data_kind: ClassVar[str] = "triplets"

    def __init__(self, config: TrainedConfig, context) -> None:
        super().__init__(config, context)
        self.folder: AdapterFolder | None = None
        self.summary: dict[str, Any] | None = None
        self._base: LoadedModel | None = None

    @abstractmethod
    def build_objective(self, loaded: LoadedModel) -> Objective:
        """The loss this method trains with."""

    def causal_lm(self) -> LoadedModel:
        if self._model is None:
            self.prepare()
        return self._model  # type: ignore[return-value]

    def training_data(self) -> NLIData:
        cfg: TrainedConfig = self.config  # type: ignore[assignment]
        if self.context.data_dir is None:
            raise BenchError(f"{self.name} needs a data directory with nli/ (--data-dir or BENCH_DATA_DIR)")
        return load_nli(
            self.context.data_dir, self.data_kind, self.context.seed, cfg.train_samples, cfg.heldout
        )

    def prepare(self) -> None:
        if self._model is not None:
            return
        cfg: TrainedConfig = self.config  # type: ignore[assignment]
        base = self.context.load_model()
        data = self.training_data()
        checksums = file_checksums(data.files, self.context.data_dir)
        fingerprint = {"name": base.spec.name, "weights": base.spec.weights_sha256, "rev": base.spec.revision}
        key = adapter_key(fingerprint, self.name, cfg.to_dict(), checksums, self.context.seed)
        self.folder = AdapterFolder.for_key(base.spec.slug(), self.name, key)
        self._base = base
        if self.folder.is_complete() and not self.context.retrain:
            from peft import PeftModel

            console.print(f"{self.name}: reusing trained adapter {self.folder.adapter}")
            model = PeftModel.from_pretrained(base.model, str(self.folder.adapter))
            self.summary = self.folder.summary()
        else:
            model = self._train(base, data, cfg)
        model.eval()
        self._model = LoadedModel(base.spec, model, base.tokenizer, base.device, base.dtype)
        self._engine = None

    def _train(self, base: LoadedModel, data: NLIData, cfg: TrainedConfig) -> Any:
        assert self.folder is not None
        console.print(
            f"{self.name}: training on {len(data.train)} of {data.available} NLI examples "
            f"({data.dropped_empty} dropped: empty sentence; {len(data.heldout)} held out) "
            f"-> {self.folder.path}"
        )
        targets = cfg.lora_targets if cfg.lora_targets == "all-linear" else cfg.lora_targets.split(",")
        lora = LoraSettings(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, targets)  # type: ignore[arg-type]
        model = attach_lora(base.model, lora, self.context.seed)
        self._model = LoadedModel(base.spec, model, base.tokenizer, base.device, base.dtype)
        self._engine = None  # dev scoring encodes through the adapted model
        settings = TrainSettings(
            learning_rate=cfg.learning_rate,
            warmup_ratio=cfg.warmup_ratio,
            epochs=cfg.epochs,
            micro_batch=cfg.train_batch_size,
            grad_accum=cfg.grad_accum,
            max_grad_norm=cfg.max_grad_norm,
            eval_every=cfg.eval_every,
            seed=self.context.seed,
        )
        staging = self.folder.start()
        trainer = Trainer(
            model,
            self.build_objective(base),
            settings,
            staging,
            self.dev_scorer(),
            self.context.show_progress,
            self.context.on_dev_score,
        )
        try:
            result = trainer.train(data.train, data.heldout)
        except BaseException:
            model.unload()  # leave the shared base model as it was (the next trial or method uses it)
            self._model = None
            raise
        summary = result.to_dict() | {
            "method": self.name,
            "config": cfg.to_dict(),
            "model": base.describe(),
            "seed": self.context.seed,
            "data": {
                "files": file_checksums(data.files, self.context.data_dir),
                "available": data.available,
                "dropped_empty": data.dropped_empty,
            },  # fmt: skip
        }
        self.folder.commit(summary)
        self.summary = summary
        console.print(
            f"{self.name}: trained {result.steps} steps in {result.seconds:.0f} s; best STS-B dev "
            f"{result.best_dev} at step {result.best_step}; held-out preference accuracy "
            f"{result.heldout_before.get('accuracy')} -> {result.heldout_after.get('accuracy')}"
        )
        return model

    def dev_scorer(self):
        """STS-B dev Spearman x 100 of the current adapter (the paper's checkpoint selection)."""
        from suites.sts import direct_spearman
        from suites.sts_data import read_stsb

        cfg: TrainedConfig = self.config  # type: ignore[assignment]
        pairs = read_stsb(self.context.data_dir, "dev")  # type: ignore[arg-type]
        if cfg.dev_pairs is not None:
            pairs = pairs.head(cfg.dev_pairs)

        def score() -> float:
            embeddings = self.encode(pairs.sentences1 + pairs.sentences2)
            n = len(pairs)
            return round(direct_spearman(embeddings[:n], embeddings[n:], pairs.scores), 3)

        return score

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        self.causal_lm()
        return super().encode(sentences)

    def training_info(self) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        summary = self.summary or {}
        keep = ("steps", "examples", "seconds", "best_step", "best_dev", "heldout_before", "heldout_after")
        return {"adapter": str(self.folder.adapter), **{k: summary.get(k) for k in keep}}

    def release(self) -> None:
        """Remove the LoRA layers so the shared base model is unchanged for the next method."""
        if self._model is not None and self._base is not None:
            self._model.model.unload()
        self._model = None
        self._engine = None


class Sempa(TrainedMethod):
    """SemPA: sentence-level DPO on paraphrase generation (entailment over contradiction)."""

    name = "sempa"
    description = "SemPA (2026): LoRA + sigmoid DPO on NLI paraphrase preferences, PromptEOL embedding"
    Config = SempaConfig

    def list_loss(self):
        return pairwise_dpo

    def in_batch_negatives(self) -> bool:
        return False

    def build_objective(self, loaded: LoadedModel) -> Objective:
        cfg: SempaConfig = self.config  # type: ignore[assignment]
        formatter = ChatFormatter(loaded.tokenizer, cfg.system_prompt or None, cfg.chat_template)
        return PreferenceObjective(
            formatter, PARAPHRASE_PROMPTS[cfg.paraphrase_prompt], cfg.beta, self.list_loss(),
            loaded.tokenizer.pad_token_id, in_batch_negatives=self.in_batch_negatives(),
        )  # fmt: skip


class SempaPL(Sempa):
    """SemPA-PL: listwise DPO under Plackett-Luce on entailment > neutral > contradiction lists."""

    name = "sempa-pl"
    description = "SemPA-PL: Plackett-Luce listwise DPO on entailment > neutral > contradiction lists"
    Config = SempaPLConfig
    data_kind = "lists"

    def list_loss(self):
        return plackett_luce(self.config.top1_only)  # type: ignore[attr-defined]

    def in_batch_negatives(self) -> bool:
        return self.config.in_batch_negatives  # type: ignore[attr-defined]


class Contrastive(TrainedMethod):
    """PromptEOL-CL: InfoNCE on PromptEOL last-token embeddings with LoRA (PromptEOL paper's fine-tuning)."""

    name = "contrastive"
    description = "contrastive fine-tuning (PromptEOL-CL): LoRA + InfoNCE on PromptEOL embeddings, tau 0.05"
    Config = ContrastiveConfig

    def build_objective(self, loaded: LoadedModel) -> Objective:
        cfg: ContrastiveConfig = self.config  # type: ignore[assignment]
        return ContrastiveObjective(
            self.to_item, Readout(cfg.layer, cfg.pooling), loaded.tokenizer.pad_token_id,
            cfg.temperature, cfg.hard_negatives,
        )  # fmt: skip


for _cls in (Sempa, SempaPL, Contrastive):
    METHODS.register(_cls.name)(_cls)
