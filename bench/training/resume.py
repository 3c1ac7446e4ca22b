"""The state an interrupted training resumes from: written at every STS-B dev evaluation (atomically, so a
kill mid-write leaves the previous state), read when the same training starts again.

It holds everything the rest of the loop depends on -- the LoRA weights, AdamW's moments, the learning-rate
schedule, the random generators, the dev curve and the best score so far, the log lines, and what the
objective computed before the first step (the reference log-probs, 14 min for all local triplets on 2 CPU
cores) -- so that a resumed training takes the same steps, with the same numbers, as one that never stopped.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.core.atomic import atomic_write
from bench.core.progress import warn

RESUME_FILE = "resume_state.pt"


@dataclass
class ResumeState:
    """Where a training stood after optimizer step ``step``."""

    fingerprint: dict[str, Any]  # what must match for the state to apply (settings, steps, examples)
    step: int
    samples_seen: int
    seconds: float  # training time spent before the interruption(s)
    dev_curve: list[dict[str, float]]
    best: tuple[float, int] | None  # (STS-B dev, step) of the kept adapter
    kept: dict[str, torch.Tensor]  # the kept adapter's trainable weights, by parameter name
    heldout_before: dict[str, float]
    log_lines: list[str]
    trainable: dict[str, torch.Tensor]  # the current LoRA weights, by parameter name
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: list[dict[str, Any]] = field(default_factory=list)  # each process's generators, in process order
    resumed_at: list[int] = field(default_factory=list)  # steps at which earlier runs resumed
    setup: Any = None  # what the objective computed once before training (SemPA: reference log-probs)


def random_states() -> dict[str, Any]:
    """The generators a training step may draw from (dropout, shuffling)."""
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_resume_state(folder: Path, state: ResumeState) -> None:
    atomic_write(Path(folder) / RESUME_FILE, lambda tmp: torch.save(asdict(state), tmp))


def read_resume_state(folder: Path) -> ResumeState:
    """The state stored in ``folder``; raises what ``torch.load`` raises for a missing or damaged file."""
    state = ResumeState(**torch.load(Path(folder) / RESUME_FILE, map_location="cpu", weights_only=True))
    if isinstance(state.best, list):  # stored tuples may come back as lists
        state.best = (state.best[0], state.best[1])
    return state


def load_resume_state(folder: Path, fingerprint: dict[str, Any]) -> ResumeState | None:
    """The stored state of this training, or None (with a warning when one exists but cannot be used)."""
    path = Path(folder) / RESUME_FILE
    if not path.is_file():
        return None
    try:
        state = read_resume_state(folder)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for a damaged file
        warn(f"resume state {path} is unreadable ({type(exc).__name__}); training from the start")
        return None
    if state.fingerprint != fingerprint:
        changed = sorted(k for k in {*fingerprint, *state.fingerprint}
                         if fingerprint.get(k) != state.fingerprint.get(k))  # fmt: skip
        warn(f"resume state {path} belongs to other settings ({', '.join(changed)}); training from the start")
        return None
    return state


def discard_resume_state(folder: Path) -> None:
    (Path(folder) / RESUME_FILE).unlink(missing_ok=True)
