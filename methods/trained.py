"""Trained methods: SemPA (sentence-level DPO), SemPA-PL (listwise, Plackett-Luce) and contrastive
fine-tuning (PromptEOL-CL). All three train a LoRA adapter with ``bench.training.trainer`` and then embed with
the PromptEOL template and readout on the adapted model; only the objective differs.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from bench.core.dev_score import stsb_dev_scorer
from bench.core.distributed import decided_by_main
from bench.core.engine import Readout
from bench.core.errors import BenchError
from bench.core.method import RunContext
from bench.core.models import LoadedModel
from bench.core.progress import console, warn
from bench.core.provenance import file_checksums
from bench.core.sequences import ChatFormatter
from bench.training.adapters import AdapterFolder, adapter_key
from bench.training.nli import NLIData, load_nli, with_preference
from bench.training.objectives import (
    ContrastiveObjective,
    ListLoss,
    Objective,
    PreferenceObjective,
    SFTObjective,
    pairwise_dpo,
    plackett_luce,
)
from bench.training.trainer import LoraSettings, Trainer, TrainSettings, attach_lora
from methods.configs import (
    PARAPHRASE_PROMPTS,
    ContrastiveConfig,
    SempaConfig,
    SempaPLConfig,
    TrainedConfig,
)
from methods.patched import num_layers
from methods.prompting import PromptMethod

TrainedConfigT = TypeVar("TrainedConfigT", bound=TrainedConfig)
SempaConfigT = TypeVar("SempaConfigT", bound=SempaConfig)


class TrainedMethod(PromptMethod[TrainedConfigT]):
    """Trains (or reuses from the cache) a LoRA adapter in ``prepare``; embeds like PromptEOL after."""

    trains: ClassVar[bool] = True
    data_kind: ClassVar[str] = "triplets"
    # config fields that only change how the trained model is read, so not which adapter is trained
    readout_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: TrainedConfigT, context: RunContext) -> None:
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

    def require_data_dir(self) -> Path:
        if self.context.data_dir is None:
            raise BenchError(f"{self.name} needs a data directory with nli/ (--data-dir or BENCH_DATA_DIR)")
        return self.context.data_dir

    def training_data(self) -> NLIData:
        cfg = self.config
        seed = self.context.seed
        return load_nli(self.require_data_dir(), self.data_kind, seed, cfg.train_samples, cfg.heldout)

    def prepare(self) -> None:
        if self._model is not None:
            return
        cfg = self.config
        base = self.context.load_model()
        data = self.training_data()
        checksums = file_checksums(data.files, self.context.data_dir)
        fingerprint = {"name": base.spec.name, "weights": base.spec.weights_sha256, "rev": base.spec.revision}
        trained_as = getattr(self, "preset_of", self.name)  # a preset trains the adapter of its base
        training = {k: v for k, v in cfg.identity().items() if k not in self.readout_fields}
        key = adapter_key(fingerprint, trained_as, training, checksums, self.context.seed)
        self.folder = AdapterFolder.for_key(base.spec.slug(), trained_as, key)
        self._base = base
        model = None
        if not self.context.retrain and decided_by_main(self.folder.is_complete):
            model = self._reuse(base)
        if model is None:
            model = self._train(base, data, cfg)
        model.eval()
        self._model = LoadedModel(base.spec, model, base.tokenizer, base.device, base.dtype)
        self._engine = None

    def _reuse(self, base: LoadedModel) -> Any:
        """The cached adapter on the base model, or None (with a warning) when the cache is damaged."""
        from peft import PeftModel

        assert self.folder is not None
        # checked first (a failed load would leave LoRA layers behind), by the main process for all
        problem = decided_by_main(self.folder.problem)
        if problem is None:
            console.print(f"{self.name}: reusing trained adapter {self.folder.adapter}")
            model = PeftModel.from_pretrained(base.model, str(self.folder.adapter))
            self.summary = self.folder.summary()
            return model
        warn(f"{self.name}: cached adapter {self.folder.path} is damaged ({problem}); training it again")
        return None

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
            eval_every_samples=cfg.dev_interval_samples(),
            weight_decay=cfg.weight_decay,
            adam_beta2=cfg.adam_beta2,
            disable_dropout=cfg.disable_dropout,
            seed=self.context.seed,
        )
        staging = self.folder.start(resume=not self.context.retrain)
        trainer = Trainer(
            model,
            self.build_objective(base),
            settings,
            staging,
            self.dev_scorer(),
            self.context.show_progress,
            self.context.on_dev_score,
            identity=cfg.identity(),
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
            "model": base.describe() | {"portable_name": base.spec.portable_name()},
            "seed": self.context.seed,
            "data": {
                "files": file_checksums(data.files, self.context.data_dir),
                "available": data.available,
                "dropped_empty": data.dropped_empty,
            },  # fmt: skip
        }
        self.folder.commit(summary, base_model=base.spec.portable_name())
        self.summary = summary
        console.print(
            f"{self.name}: trained {result.steps} steps in {result.seconds:.0f} s; best STS-B dev "
            f"{result.best_dev} at step {result.best_step}; held-out preference accuracy "
            f"{result.heldout_before.get('accuracy')} -> {result.heldout_after.get('accuracy')}"
        )
        return model

    def dev_scorer(self):
        """STS-B dev Spearman x 100 of the current adapter (the paper's checkpoint selection)."""
        return stsb_dev_scorer(self.encode, self.require_data_dir(), self.config.dev_pairs)

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        self.causal_lm()
        return super().encode(sentences)

    def training_info(self) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        summary = self.summary or {}
        keep = ("steps", "examples", "seconds", "best_step", "best_dev", "heldout_before", "heldout_after")
        return {"adapter": str(self.folder.adapter), **{k: summary.get(k) for k in keep}}

    def embedding_identity(self) -> dict[str, Any] | None:
        """The config and the adapter folder (its name holds the adapter's key: model, training config,
        data, seed)."""
        if self.folder is None:
            return None  # not trained: nothing to key the vectors by
        return {**(super().embedding_identity() or {}), "adapter": self.folder.path.name}

    def release(self) -> None:
        """Remove the LoRA layers so the shared base model is unchanged for the next method."""
        if self._model is not None and self._base is not None:
            self._model.model.unload()
        self._model = None
        self._engine = None


class _SempaBase(TrainedMethod[SempaConfigT]):
    """Preference training on paraphrase generation; the list loss differs between SemPA and SemPA-PL."""

    # (the older readout fields, template and layer, stay in the key: leaving them out would orphan
    # adapters trained before)
    readout_fields = frozenset(
        {"intervention", "tp_start_layer", "tp_exit_layer", "cp_layer", "cp_alpha", "cp_plan", "cp_auxiliary",
         "chat_readout"}
    )  # fmt: skip

    @abstractmethod
    def list_loss(self) -> ListLoss:
        """The preference loss over one premise's ranked responses."""

    def in_batch_negatives(self) -> bool:
        return False

    def training_data(self) -> NLIData:
        """The NLI examples, with the preference control applied to the training part only (held-out
        accuracy is always measured against the real labels)."""
        data = super().training_data()
        data.train = with_preference(data.train, self.config.preference, self.context.seed)
        return data

    def build_objective(self, loaded: LoadedModel) -> Objective:
        cfg = self.config
        formatter = ChatFormatter(loaded.tokenizer, cfg.system_prompt or None, cfg.chat_template)
        objective = SFTObjective if cfg.loss == "sft" else PreferenceObjective
        return objective(
            formatter, PARAPHRASE_PROMPTS[cfg.paraphrase_prompt], cfg.beta, self.list_loss(),
            loaded.tokenizer.pad_token_id, in_batch_negatives=self.in_batch_negatives(),
        )  # fmt: skip


class Sempa(_SempaBase[SempaConfig]):
    """SemPA: sentence-level DPO on paraphrase generation (entailment over contradiction)."""

    name = "sempa"
    Config = SempaConfig

    def list_loss(self) -> ListLoss:
        return pairwise_dpo


class SempaPL(_SempaBase[SempaPLConfig]):
    """SemPA-PL: listwise DPO under Plackett-Luce on entailment > neutral > contradiction lists."""

    name = "sempa-pl"
    Config = SempaPLConfig
    data_kind = "lists"

    def list_loss(self) -> ListLoss:
        return plackett_luce(self.config.top1_only)

    def in_batch_negatives(self) -> bool:
        return self.config.in_batch_negatives


class Contrastive(TrainedMethod[ContrastiveConfig]):
    """PromptEOL-CL: InfoNCE on PromptEOL last-token embeddings with LoRA (PromptEOL paper's fine-tuning)."""

    name = "contrastive"
    Config = ContrastiveConfig

    def build_objective(self, loaded: LoadedModel) -> Objective:
        cfg = self.config
        readout = Readout(cfg.readout_layer(num_layers(loaded.model)), cfg.pooling)
        return ContrastiveObjective(
            self.to_item, readout, loaded.tokenizer.pad_token_id,
            cfg.temperature, cfg.hard_negatives,
        )  # fmt: skip
