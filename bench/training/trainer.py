"""The one training loop behind every trained method: LoRA via peft, AdamW, warm-up + cosine decay,
gradient accumulation, STS-B-dev checkpoint selection, a per-step JSONL log and curve plots.

The objective (``bench.training.objectives``) is the only thing that differs between methods.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.core.distributed import (
    decided_by_main,
    gather_objects,
    is_main_process,
    ranks,
    sum_across_processes,
    sum_gradients,
    wait_for_all,
)
from bench.core.errors import BenchError
from bench.core.progress import console, training_bar, warn
from bench.training.nli import Ranked
from bench.training.objectives import Objective
from bench.training.resume import (
    ResumeState,
    discard_resume_state,
    load_resume_state,
    random_states,
    restore_random_states,
    save_resume_state,
)

ADAPTER_DIR = "adapter"  # the selected adapter, in peft format, inside the training folder


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.05
    epochs: int = 1
    micro_batch: int = 8
    grad_accum: int = 32
    max_grad_norm: float = 1.0
    eval_every: int = 78  # optimizer steps between STS-B dev evaluations
    eval_every_samples: int | None = None  # instead: training samples between evaluations
    seed: int = 0
    weight_decay: float = 0.0  # AdamW's decoupled weight decay
    adam_beta2: float = 0.999
    disable_dropout: bool = False  # every dropout off while training (trl / ms-swift DPO default)


@dataclass
class TrainingSummary:
    """What training did; stored as ``training_summary.json`` next to the adapter."""

    steps: int
    examples: int
    seconds: float
    best_step: int | None
    best_dev: float | None
    dev_curve: list[dict[str, float]] = field(default_factory=list)
    heldout_before: dict[str, float] = field(default_factory=dict)
    heldout_after: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    resumed_at: list[int] = field(default_factory=list)  # steps after which interrupted runs went on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def attach_lora(causal_lm: Any, lora: LoraSettings, seed: int) -> Any:
    """Wrap ``causal_lm`` (modified in place) with a fresh LoRA adapter; only LoRA weights train."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(causal_lm, config)


def disable_dropout(model: Any) -> int:
    """Set the rate of every dropout module (LoRA's included) to 0; returns how many there were."""
    modules = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    for module in modules:
        module.p = 0.0
    return len(modules)


def save_adapter(model: Any, folder: Path) -> None:
    """``save_pretrained`` into a temp folder, then swap it in: a reader never sees half an adapter."""
    tmp = folder.with_name(folder.name + ".saving")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def load_adapter_weights(model: Any, folder: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))


def current_weights(named: Sequence[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in named}


def load_weights(named: Sequence[tuple[str, torch.Tensor]], weights: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, param in named:
            param.copy_(weights[name])


@dataclass
class _Progress:
    """The loop's running state: what a resume state stores and restores."""

    step: int = 0
    seen: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    best: tuple[float, int] | None = None
    kept: dict[str, torch.Tensor] = field(default_factory=dict)  # trainable weights of the kept adapter
    log_lines: list[str] = field(default_factory=list)
    seconds_before: float = 0.0
    resumed_at: list[int] = field(default_factory=list)

    @classmethod
    def resumed(cls, state: ResumeState, named, optimizer, scheduler) -> _Progress:
        """Load ``state`` into the model's trainable weights, the optimizer, the schedule and this
        process's random generators, and return the loop's state at its step."""
        load_weights(named, state.trainable)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        restore_random_states(state.rng[ranks().index])
        return cls(state.step, state.samples_seen, list(state.dev_curve), state.best, dict(state.kept),
                   list(state.log_lines), state.seconds, [*state.resumed_at, state.step])  # fmt: skip

    def write(self, log, record: dict[str, Any]) -> None:
        line = json.dumps(record)
        self.log_lines.append(line)
        log.write(line + "\n")


class Trainer:
    """Trains a peft-wrapped model with an objective; writes logs, plots and the selected adapter."""

    def __init__(
        self,
        model: Any,
        objective: Objective,
        settings: TrainSettings,
        out_dir: Path,
        score_dev: Callable[[], float] | None = None,
        show_progress: bool = True,
        on_dev_score: Callable[[int, float], None] | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        """``identity``: what else makes this training what it is (the method's whole config, the readout
        the dev score uses included); a resume state of another identity is not used."""
        self.model = model
        self.objective = objective
        self.settings = settings
        self.out_dir = Path(out_dir)
        self.score_dev = score_dev
        self.show_progress = show_progress
        self.on_dev_score = on_dev_score
        self.identity = identity or {}

    def total_steps(self, n_examples: int) -> int:
        per_step = self.settings.micro_batch * self.settings.grad_accum
        return math.ceil(n_examples / per_step) * self.settings.epochs

    def batches(self, examples: Sequence[Ranked]) -> list[list[Ranked]]:
        """Optimizer steps as lists of examples, epoch after epoch (later epochs reshuffled)."""
        per_step = self.settings.micro_batch * self.settings.grad_accum
        steps = []
        for epoch in range(self.settings.epochs):
            order = list(examples)
            if epoch:
                random.Random(self.settings.seed + epoch).shuffle(order)
            steps += [order[i : i + per_step] for i in range(0, len(order), per_step)]
        return steps

    def train(self, train: Sequence[Ranked], heldout: Sequence[Ranked]) -> TrainingSummary:
        """Run the loop; inside a multi-process launch every process runs it on its share of each step
        (see :meth:`_step`), the main process alone writes files, and all read the kept adapter.

        A resume state left in the output folder by an interrupted run of the same training (see
        ``bench.training.resume``) is picked up: the loop goes on after its last dev evaluation."""
        from transformers import get_cosine_schedule_with_warmup

        if not train:
            raise BenchError("no training examples (check --train-samples and the NLI data)")
        s = self.settings
        main = is_main_process()
        started = time.perf_counter()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        steps = self.batches(train)
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        params = [p for _, p in named]
        fingerprint = self._fingerprint(train, len(steps), named)
        state = self._resume_state(fingerprint)
        if state is not None:
            self.objective.restore_setup_state(state.setup)  # setup then computes only what is missing
        self.objective.setup(self.model, [*train, *heldout], self.show_progress and main)
        if state is not None:
            before = state.heldout_before
        else:
            before = self.objective.evaluate(self.model, heldout) if heldout else {}
        if s.disable_dropout:
            disable_dropout(self.model)
        optimizer = torch.optim.AdamW(
            params, lr=s.learning_rate, weight_decay=s.weight_decay, betas=(0.9, s.adam_beta2)
        )
        scheduler = get_cosine_schedule_with_warmup(
            optimizer, math.ceil(s.warmup_ratio * len(steps)), len(steps)
        )
        progress = _Progress()
        if state is not None:
            progress = _Progress.resumed(state, named, optimizer, scheduler)
            self._restore_kept_adapter(progress, named, main)
            if main:
                console.print(f"resuming training after step {state.step} of {len(steps)} ({self.out_dir})")
        if state is None and self.score_dev is not None:  # the untrained model, for reference
            progress.curve.append({"step": 0, "samples": 0, "stsb_dev": self.score_dev()})
        log_path = self.out_dir / "training_log.jsonl"
        with (
            open(log_path if main else os.devnull, "w", encoding="utf-8") as log,
            training_bar(len(steps), "training", self.show_progress and main, progress.step) as update,
        ):
            log.writelines(line + "\n" for line in progress.log_lines)
            for number, examples in enumerate(steps, start=1):
                if number <= progress.step:
                    continue
                record = self._step(number, examples, optimizer, scheduler, params)
                seen_before = progress.seen
                progress.step, progress.seen = number, seen_before + len(examples)
                record["samples"] = progress.seen
                progress.write(log, record)
                update(loss=record["loss"], accuracy=record.get("accuracy", float("nan")),
                       step_seconds=record["seconds"])  # fmt: skip
                if not self._evaluate_now(number, len(steps), seen_before, progress.seen):
                    continue
                if self.score_dev is None:
                    self._save_adapter(main)
                else:
                    self._evaluate(number, progress, named, log, main)
                if number < len(steps):
                    self._save_resume_state(progress, fingerprint, before, named, optimizer, scheduler,
                                            started, main)  # fmt: skip
                if self.score_dev is not None:
                    self._report_dev_score(number, progress.curve[-1]["stsb_dev"], main)
                log.flush()
        load_adapter_weights(self.model, self.out_dir / ADAPTER_DIR)
        after = self.objective.evaluate(self.model, heldout) if heldout else {}
        best = progress.best
        summary = TrainingSummary(
            steps=len(steps),
            examples=len(train),
            seconds=round(progress.seconds_before + time.perf_counter() - started, 1),
            best_step=best[1] if best else len(steps),
            best_dev=best[0] if best else None,
            dev_curve=progress.curve,
            heldout_before=before,
            heldout_after=after,
            settings=asdict(s),
            resumed_at=progress.resumed_at,
        )
        if main:
            write_curves(log_path, progress.curve, self.out_dir, summary.best_step)
            warn_if_untrained_is_better(progress.curve, best)
            discard_resume_state(self.out_dir)  # last: a kill before here resumes instead of starting over
        return summary

    def _evaluate(self, number: int, progress: _Progress, named, log, main: bool) -> None:
        """Score STS-B dev (every process: the engine shards the dev sentences); keep the adapter if best."""
        dev = self.score_dev()
        point = {"step": number, "samples": progress.seen, "stsb_dev": dev}
        progress.curve.append(point)
        progress.write(log, point)
        if main:
            console.print(f"step {number} ({progress.seen} samples): STS-B dev Spearman {dev:.2f}")
        if progress.best is None or dev > progress.best[0]:
            progress.best = (dev, number)
            progress.kept = current_weights(named)
            self._save_adapter(main)

    def _report_dev_score(self, number: int, dev: float, main: bool) -> None:
        """``on_dev_score`` (an ablation study's pruning hook); a training it stops on purpose leaves no
        resume state behind (a later trial of the same settings must run and report every step again)."""
        if self.on_dev_score is None:
            return
        try:
            self.on_dev_score(number, dev)
        except Exception:
            if main:
                discard_resume_state(self.out_dir)
            raise

    def _fingerprint(self, train: Sequence[Ranked], n_steps: int, named) -> dict[str, Any]:
        """What a resume state must match: settings, identity, data, the trainable weights' shapes and the
        number of processes (each restores its own random generators)."""
        return {
            "settings": asdict(self.settings),
            "identity": self.identity,
            "steps": n_steps,
            "examples": len(train),
            "first_premise": train[0].premise,
            "last_premise": train[-1].premise,
            "trainable": {name: list(param.shape) for name, param in named},
            "processes": ranks().count,
        }

    def _resume_state(self, fingerprint: dict[str, Any]) -> ResumeState | None:
        """The resume state every process goes on from, or None; the main process decides, so that all
        take the same branch (and meet at the same collectives)."""
        state = load_resume_state(self.out_dir, fingerprint) if is_main_process() else None
        if not decided_by_main(lambda: state is not None):
            return None
        if state is None:  # another process: read the state the main process found
            state = load_resume_state(self.out_dir, fingerprint)
        if state is None:
            raise BenchError(f"process {ranks().index} cannot read the resume state in {self.out_dir}")
        return state

    def _restore_kept_adapter(self, progress: _Progress, named, main: bool) -> None:
        """Write the state's kept adapter again: a kill between saving the adapter and the state may have
        left a later (or half-written) one."""
        if not progress.kept:
            return
        current = current_weights(named)
        load_weights(named, progress.kept)
        self._save_adapter(main)
        load_weights(named, current)

    def _save_resume_state(self, progress, fingerprint, before, named, optimizer, scheduler, started,
                           main: bool) -> None:  # fmt: skip
        rng = gather_objects(random_states())  # every process's generators, in process order
        if main:
            state = ResumeState(
                fingerprint=fingerprint,
                step=progress.step,
                samples_seen=progress.seen,
                seconds=progress.seconds_before + time.perf_counter() - started,
                dev_curve=progress.curve,
                best=progress.best,
                kept=progress.kept,
                heldout_before=before,
                log_lines=progress.log_lines,
                trainable=current_weights(named),
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                rng=rng,
                resumed_at=progress.resumed_at,
                setup=self.objective.setup_state(),
            )
            save_resume_state(self.out_dir, state)
        wait_for_all()

    def _save_adapter(self, main: bool) -> None:
        """The main process writes the adapter; the others wait until it is there."""
        if main:
            save_adapter(self.model, self.out_dir / ADAPTER_DIR)
        wait_for_all()

    def _evaluate_now(self, step: int, total: int, seen_before: int, seen: int) -> bool:
        """At the last step, and every ``eval_every`` steps or each time the samples seen pass a multiple
        of ``eval_every_samples``."""
        if step == total:
            return True
        per_samples = self.settings.eval_every_samples
        if per_samples:
            return seen // per_samples > seen_before // per_samples
        every = self.settings.eval_every
        return every > 0 and step % every == 0

    def _step(self, number: int, examples: list[Ranked], optimizer, scheduler, params) -> dict[str, Any]:
        """One optimizer step over ``examples`` in micro-batches. Each process takes its share of the
        micro-batches (all of them in one process; whole micro-batches, so losses that look across a
        batch, in-batch negatives, see the one-process batches), divides its losses by the step's whole
        size and adds its gradients to the others': the gradient, and so every weight update, is the
        one-process one."""
        start = time.perf_counter()
        self.model.train()
        micro = self.settings.micro_batch
        chunks = ranks().share([examples[i : i + micro] for i in range(0, len(examples), micro)])
        totals: dict[str, float] = {}
        loss_sum = 0.0
        for chunk in chunks:
            out = self.objective.step(self.model, chunk)
            loss = out.loss.sum() / len(examples)  # the step's mean over all its examples
            loss.backward()
            loss_sum += loss.item()
            for name, value in out.metrics.items():
                totals[name] = totals.get(name, 0.0) + value * len(chunk)
        sum_gradients(params)
        totals = sum_across_processes({**totals, "loss": loss_sum})
        loss_sum = totals.pop("loss")
        if not math.isfinite(loss_sum):  # checked after the sum: every process stops at the same step
            raise BenchError(f"training stopped: the loss is {loss_sum} at step {number}")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.settings.max_grad_norm).item()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        record = {"step": number, "loss": loss_sum, "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm}
        record |= {name: value / len(examples) for name, value in totals.items()}
        record["seconds"] = round(time.perf_counter() - start, 3)
        return record


def warn_if_untrained_is_better(curve: list[dict[str, float]], best: tuple[float, int] | None) -> None:
    """Selection keeps the best *trained* checkpoint; say so when the untrained model scored higher on dev."""
    if best is None or not curve or curve[0]["step"] != 0 or best[0] > curve[0]["stsb_dev"]:
        return
    warn(
        f"no checkpoint beat the untrained model on STS-B dev (kept step {best[1]}: {best[0]:.2f}; "
        f"untrained: {curve[0]['stsb_dev']:.2f}); the results use the kept adapter"
    )


def write_curves(
    log_path: Path, dev_curve: list[dict[str, float]], out_dir: Path, best_step: int | None = None
) -> None:
    """``loss_curve.png`` (training loss per step) and ``dev_curve.png`` (STS-B dev vs step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    steps = [r for r in records if "loss" in r]

    def plot(points: list[dict], x: str, key: str, labels: tuple[str, str, str], name: str, marker: str,
             star=None) -> None:  # fmt: skip
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([p.get(x, p["step"]) for p in points], [p[key] for p in points], marker=marker)
        for p in points:
            if p["step"] == star:
                ax.plot([p.get(x, p["step"])], [p[key]], marker="*", markersize=14, color="tab:red")
        ax.set(xlabel=labels[0], ylabel=labels[1], title=labels[2])
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=120)
        plt.close(fig)

    plot(steps, "step", "loss", ("optimizer step", "training loss", "training loss"), "loss_curve.png", ".")
    if dev_curve:
        title = "STS-B dev vs samples seen (0: untrained; * kept)"
        labels = ("training samples seen", "STS-B dev Spearman x100", title)
        plot(dev_curve, "samples", "stsb_dev", labels, "dev_curve.png", "o", best_step)
