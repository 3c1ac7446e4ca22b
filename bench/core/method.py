"""The method interface: every embedding method (training-free or trained) implements it."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from bench.core.config import MethodConfig, build_config, config_hash
from bench.core.errors import BenchError
from bench.core.models import LoadedModel, ModelShape
from bench.core.options import RuntimeOptions
from bench.core.registry import Registry


@dataclass
class RunContext:
    """What a method may use: the (lazily loaded) model and the run's options."""

    load_model: Callable[[], LoadedModel]
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    retrain: bool = False  # trained methods: ignore a cached adapter
    # trained methods: called with (optimizer step, STS-B dev score) after each dev evaluation during
    # training; may raise to stop training (an Optuna pruner does)
    on_dev_score: Callable[[int, float], None] | None = None
    # composite methods (ensembles): how to encode through a member; the runner passes one that reads and
    # fills the persistent embedding cache under the member's own key, so that a member's vectors are
    # shared with the member's own row. None: the member's plain ``encode``.
    member_encoder: Callable[[Method], Callable[[Sequence[str]], np.ndarray]] | None = None

    def encoder_of(self, member: Method) -> Callable[[Sequence[str]], np.ndarray]:
        """How a composite method encodes sentences with ``member``."""
        return self.member_encoder(member) if self.member_encoder is not None else member.encode

    @property
    def data_dir(self) -> Path | None:
        return self.options.data_dir

    @property
    def seed(self) -> int:
        return self.options.seed

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    @property
    def show_progress(self) -> bool:
        return self.options.show_progress


ConfigT = TypeVar("ConfigT", bound=MethodConfig)


class Method(ABC, Generic[ConfigT]):
    """A sentence-embedding method: typed config, optional training step, ``encode``.

    ``description`` defaults to the first line of ``Config``'s docstring."""

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[MethodConfig]]
    uses_llm: ClassVar[bool] = True
    trains: ClassVar[bool] = False  # trained methods fit an adapter in ``prepare``

    @classmethod
    def depends_on_seed(cls) -> bool:
        """Whether the seed changes this method's output (a training-free method is deterministic, so
        ``--seeds 0,1,2`` computes it once)."""
        return cls.trains

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "description" not in cls.__dict__ and "Config" in cls.__dict__:
            cls.description = describe_config(cls.Config)

    def __init__(self, config: ConfigT, context: RunContext) -> None:
        self.config: ConfigT = config
        self.context = context

    @classmethod
    def build_config(cls, overrides: dict[str, Any]) -> MethodConfig:
        """The method's config with ``overrides`` (``--set`` values) applied; errors name the method."""
        try:
            return build_config(cls.Config, overrides)
        except BenchError as exc:
            raise BenchError(f"{cls.name}: {exc}") from None

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any], context: RunContext) -> Method:
        return cls(cls.build_config(overrides), context)  # type: ignore[arg-type]

    @classmethod
    def check_model(cls, config: Any, shape: ModelShape) -> None:  # noqa: B027 - deliberately optional
        """Raise :class:`BenchError` when ``config`` does not fit the model (e.g. a layer it lacks);
        called with the model's config only, before its weights load."""

    @property
    def config_hash(self) -> str:
        return config_hash(self.name, self.config)

    def label(self) -> str:
        """Row label in tables: the name, plus any non-default settings."""
        changed = self.config.non_defaults()
        if not changed:
            return self.name
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in sorted(changed.items()))}]"

    def prepare(self) -> None:  # noqa: B027 - deliberately optional
        """Training step; a no-op for training-free methods."""

    @abstractmethod
    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """Embeddings ``(len(sentences), dim)`` as float32, in input order."""

    def causal_lm(self) -> LoadedModel | None:
        """The causal LM this method leaves behind (for generation benchmarks); None if not an LLM."""
        return None

    def training_info(self) -> dict[str, Any] | None:
        """For trained methods: the adapter and what its training did (stored in results)."""
        return None

    def release(self) -> None:  # noqa: B027 - deliberately optional
        """Undo changes to the shared model (e.g. remove an adapter) once the method is done."""

    def encoder_info(self) -> dict[str, Any] | None:
        """For non-LLM methods: a description of the encoder actually used (stored in results)."""
        return None

    def embedding_identity(self) -> dict[str, Any] | None:
        """What, besides the model, dtype and library versions, this method's vectors depend on: the key
        of its vectors in the persistent embedding cache (None: never cache them). Asked after
        ``prepare``."""
        return {"method": self.name, "config_hash": self.config_hash}


def describe_config(config: type[MethodConfig]) -> str:
    """A config's one-line description: the first line of its own docstring."""
    doc = config.__dict__.get("__doc__") or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


# Built-in methods are declared (lazily, as "module:Class" strings) in the `methods` package.
METHODS: Registry[type[Method]] = Registry(
    "method", Method, entry_point_group="sempa_bench.methods", builtins="methods"
)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
