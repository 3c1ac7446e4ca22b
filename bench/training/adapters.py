"""Where trained adapters live: ``$BENCH_CACHE/adapters/<model>/<method>-<key>/``, keyed by what made them.

A finished folder holds ``adapter/`` (peft format: ``PeftModel.from_pretrained`` and lm-eval's ``peft=``
read it), ``training_summary.json``, ``training_log.jsonl`` and the curve PNGs. Training writes into
``<folder>.partial`` and renames it when done, so an interrupted run never leaves a finished-looking one;
the next run of the same training resumes from the partial folder's last dev evaluation.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.distributed import is_main_process, wait_for_all
from bench.core.hashing import json_digest
from bench.core.settings import cache_dir
from bench.training.resume import RESUME_FILE, read_resume_state
from bench.training.trainer import ADAPTER_DIR

SUMMARY = "training_summary.json"


def adapter_key(
    model: dict[str, Any], method: str, config: dict[str, Any], data: list[dict], seed: int
) -> str:
    """Hash of (model weights, method config, training-data checksums, seed)."""
    payload = {"model": model, "method": method, "config": config, "data": data, "seed": seed}
    return json_digest(payload)


@dataclass(frozen=True)
class AdapterFolder:
    """One trained adapter's folder in the cache."""

    path: Path

    @classmethod
    def for_key(cls, model_slug: str, method: str, key: str, root: Path | None = None) -> AdapterFolder:
        return cls((root or cache_dir() / "adapters") / model_slug / f"{method}-{key}")

    @property
    def adapter(self) -> Path:
        return self.path / ADAPTER_DIR

    @property
    def staging(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def is_complete(self) -> bool:
        return (self.path / SUMMARY).is_file() and (self.adapter / "adapter_config.json").is_file()

    def problem(self) -> str | None:
        """Why a finished-looking folder cannot be reused (None: it can): an unreadable summary or
        adapter config, or missing adapter weights."""
        for path in (self.path / SUMMARY, self.adapter / "adapter_config.json"):
            try:
                if not isinstance(json.loads(path.read_text(encoding="utf-8")), dict):
                    return f"{path.name} is not a JSON object"
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                return f"{path.name} is unreadable ({type(exc).__name__})"
        weights = self.adapter / "adapter_model.safetensors"
        if not weights.is_file():
            return f"{weights.name} is missing"
        try:  # LoRA weights are small: reading them all is cheap and catches truncated or garbage files
            from safetensors.torch import load_file

            load_file(str(weights))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            return f"{weights.name} is unreadable ({type(exc).__name__})"
        return None

    def summary(self) -> dict[str, Any]:
        return json.loads((self.path / SUMMARY).read_text())

    def start(self, resume: bool = True) -> Path:
        """The staging folder to train into: an interrupted run's folder is kept when it holds a resume
        state and ``resume`` is on (the trainer goes on from there), otherwise it starts empty; by the
        main process, inside a multi-process launch."""
        if is_main_process():
            if not (resume and (self.staging / RESUME_FILE).is_file()):
                shutil.rmtree(self.staging, ignore_errors=True)
            self.staging.mkdir(parents=True, exist_ok=True)
        wait_for_all()
        return self.staging

    def commit(self, summary: dict[str, Any], base_model: str | None = None) -> None:
        """Write the summary and move the staging folder into place; ``base_model`` replaces the local
        path peft wrote as ``base_model_name_or_path`` (so the adapter says portably what it belongs to).
        Inside a multi-process launch the main process does it and the others wait."""
        if is_main_process():
            self._commit(summary, base_model)
        wait_for_all()

    def _commit(self, summary: dict[str, Any], base_model: str | None) -> None:
        if base_model is not None:
            config_path = self.staging / ADAPTER_DIR / "adapter_config.json"
            config = json.loads(config_path.read_text())
            config["base_model_name_or_path"] = base_model
            config_path.write_text(json.dumps(config, indent=2) + "\n")
        (self.staging / SUMMARY).write_text(json.dumps(summary, indent=2, default=str) + "\n")
        shutil.rmtree(self.path, ignore_errors=True)
        os.replace(self.staging, self.path)


@dataclass(frozen=True)
class InterruptedTraining:
    """A staging folder with a resume state: the next run of the same training goes on from ``step``."""

    folder: Path
    step: int
    steps: int
    samples_seen: int
    megabytes: float
    dev_curve: tuple[tuple[int, float], ...] = ()  # (samples seen, STS-B dev) so far

    def dev_so_far(self) -> str:
        return ", ".join(f"{samples}: {score:.2f}" for samples, score in self.dev_curve)


def interrupted_trainings(root: Path | None = None) -> list[InterruptedTraining]:
    """Every interrupted training under the adapter cache (unreadable states are left out)."""
    found = []
    for path in sorted((root or cache_dir() / "adapters").glob(f"*/*.partial/{RESUME_FILE}")):
        try:
            state = read_resume_state(path.parent)
        except Exception:  # noqa: BLE001 - a damaged state is retrained from the start anyway
            continue
        size = sum(f.stat().st_size for f in path.parent.rglob("*") if f.is_file()) / 1e6
        curve = tuple((int(p["samples"]), float(p["stsb_dev"])) for p in state.dev_curve)
        found.append(InterruptedTraining(path.parent, state.step, state.fingerprint.get("steps", 0),
                                         state.samples_seen, size, curve))  # fmt: skip
    return found
