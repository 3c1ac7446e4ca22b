"""Embedding ensembles: a method whose vector combines registered methods' vectors (CK = PretCoT + KE).

The members are named in the config (``members: "pretcot,ke"``, each optionally ``name[field=value,...]``),
so a new combination is configuration, not code. Each member encodes the sentences once; the members share
the run's model, and in a run their vectors go through the persistent embedding cache under each member's
own key (CK after PretCoT and KE encodes nothing new).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bench.core.config import MethodConfig
from bench.core.errors import BenchError
from bench.core.hashing import json_digest
from bench.core.method import METHODS, Method, RunContext
from bench.core.models import LoadedModel, ModelShape
from methods.configs import EnsembleConfig, parse_members


def member_configs(config: EnsembleConfig, ensemble: str) -> list[tuple[type[Method], MethodConfig]]:
    """(method class, built config) of each member, checked: known, training-free, valid settings."""
    members = []
    for name, settings in parse_members(config.members):
        try:
            cls = METHODS.get(name)
        except BenchError as exc:
            raise BenchError(f"{ensemble}: member {exc}") from None
        if cls.trains:
            raise BenchError(f"{ensemble}: member {name!r} is trained; ensembles take training-free methods")
        members.append((cls, cls.build_config(settings)))
    return members


def combine(vectors: Sequence[np.ndarray], rule: str) -> np.ndarray:
    """The mean of the members' vectors (``normalized-mean``: of their unit vectors), as float32."""
    stacked = np.stack([np.asarray(v, dtype=np.float64) for v in vectors])
    if rule == "normalized-mean":
        stacked = stacked / np.clip(np.linalg.norm(stacked, axis=2, keepdims=True), 1e-12, None)
    return stacked.mean(axis=0).astype(np.float32)


class Ensemble(Method[EnsembleConfig]):
    """The combined embedding of several training-free methods."""

    name = "ensemble"
    Config = EnsembleConfig

    @classmethod
    def build_config(cls, overrides: dict) -> EnsembleConfig:
        config = super().build_config(overrides)
        assert isinstance(config, EnsembleConfig)
        member_configs(config, cls.name)
        return config

    @classmethod
    def check_model(cls, config: EnsembleConfig, shape: ModelShape) -> None:
        for member, member_config in member_configs(config, cls.name):
            member.check_model(member_config, shape)

    def __init__(self, config: EnsembleConfig, context: RunContext) -> None:
        super().__init__(config, context)
        self.members = [cls(cfg, context) for cls, cfg in member_configs(config, self.name)]
        self._member_encoders: list[Callable[[Sequence[str]], np.ndarray]] | None = None

    @property
    def config_hash(self) -> str:
        """Keyed by what the members compute (each one's name and config hash), not by how ``members`` is
        spelled: a member whose defaults change makes a new result."""
        members = [(member.name, member.config_hash) for member in self.members]
        return json_digest({"method": self.name, "combine": self.config.combine, "members": members}, 10)

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        if self._member_encoders is None:
            self._member_encoders = [self.context.encoder_of(member) for member in self.members]
        vectors = [encode(sentences) for encode in self._member_encoders]
        widths = {v.shape[1] for v in vectors}
        if len(widths) > 1:
            raise BenchError(f"{self.name}: members give vectors of different sizes {sorted(widths)}")
        return combine(vectors, self.config.combine)

    def causal_lm(self) -> LoadedModel | None:
        for member in self.members:
            model = member.causal_lm()
            if model is not None:
                return model
        return None

    def release(self) -> None:
        for member in self.members:
            member.release()
