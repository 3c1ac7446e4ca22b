"""``bench ablate``: an Optuna study over one method's config fields, scored on STS-B dev only.

Optuna is the engine: its storages are how several workers share a study (SQLite for one worker,
journal file for processes on one machine or a shared file system, any RDB URL such as PostgreSQL for
many machines), its samplers choose configurations (TPE, random, grid for one-factor ablations) and its
pruner stops trials whose intermediate dev scores lag. This module only builds the objective (train the
method with the trial's settings, report dev scores as training goes) and the worker loop.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.ablation.space import SearchSpace
from bench.core.config import build_config
from bench.core.errors import BenchError
from bench.core.options import RuntimeOptions
from bench.core.processes import pid_alive
from bench.core.progress import console

ABLATIONS_DIR = "ablations"
SAMPLERS = ("tpe", "grid", "random")
PRUNERS = ("median", "none")
FINISHED = ("COMPLETE", "PRUNED")


@dataclass
class AblationRequest:
    method: str
    study: str
    space: SearchSpace
    options: RuntimeOptions
    trials: int | None = None  # total trials in the study (grid: the grid's size when None)
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    workers: int = 1
    fixed: dict[str, Any] = field(default_factory=dict)  # --set / --train-samples: every trial uses them
    dev_pairs: int | None = None  # training-free methods: STS-B dev pairs scored (None: all)
    heartbeat: int = 60  # seconds between RDB heartbeats; a silent trial fails after 2x, then is retried
    eval_seeds: list[int] | None = None  # seeds of the final test evaluation (None: the options' seed)
    max_retry: int = 2

    @property
    def folder(self) -> Path:
        return self.options.out / ABLATIONS_DIR / self.study


def resolve_storage(request: AblationRequest) -> str:
    """The storage URL or journal path all workers share (defaults under ``results/ablations/``)."""
    if request.storage:
        return request.storage
    root = request.options.out / ABLATIONS_DIR
    root.mkdir(parents=True, exist_ok=True)
    if request.workers > 1:
        return f"journal:{root / (request.study + '.journal')}"
    return f"sqlite:///{root / (request.study + '.db')}"


def _retry_callback(max_retry: int) -> Any:
    """Optuna's callback that queues a copy of a failed (stale) trial, up to ``max_retry`` times."""
    import warnings

    from optuna import storages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental in optuna; the older name is deprecated in 4.9
        cls = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) or storages.RetryFailedTrialCallback
        return cls(max_retry=max_retry)


def _lost_schema_race(exc: BaseException) -> bool:
    """True for the error of a process that created an Optuna schema at the same time as another."""
    text = str(exc)
    return "duplicate key" in text or ("already exists" in text and ("relation" in text or "type" in text))


def open_storage(spec: str, heartbeat: int, max_retry: int) -> Any:
    """An Optuna storage: ``journal:PATH`` / ``*.journal`` (file journal) or an RDB URL."""
    import warnings

    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if spec.startswith("journal:") or (spec.endswith(".journal") and "://" not in spec):
        path = Path(spec.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in spec:
        raise BenchError(
            f"--storage {spec!r}: expected an RDB URL (sqlite:///..., postgresql://...) or journal:PATH"
        )
    callback = "heartbeat_stale_trial_callback"
    if callback not in RDBStorage.__init__.__code__.co_varnames:  # optuna < 4.9
        callback = "failed_trial_callback"
    attempts = 5
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # heartbeat arguments are marked experimental
                return RDBStorage(
                    spec,
                    heartbeat_interval=heartbeat,
                    grace_period=2 * heartbeat,
                    **{callback: _retry_callback(max_retry)},
                )
        except ImportError as exc:
            raise BenchError(f"cannot open study storage {spec}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy/driver errors: one line for the user
            # workers started together on a fresh database race to create its tables and rows (PostgreSQL
            # refuses the loser with DuplicateTable or a duplicate key): by the retry they exist
            if attempt < attempts - 1 and _lost_schema_race(exc):
                time.sleep(0.5 + attempt + random.random())
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BenchError(f"cannot open study storage {spec}: {first}") from None
    raise AssertionError("unreachable")


def make_sampler(name: str, space: SearchSpace, seed: int) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    raise BenchError(f"unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})")


def make_pruner(name: str) -> Any:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise BenchError(f"unknown pruner {name!r} (choose from {', '.join(PRUNERS)})")


def study_signature(request: AblationRequest) -> dict[str, Any]:
    """What makes two runs the same study; a resumed study must match it."""
    return {
        "method": request.method,
        "model": request.options.model,
        "space": {p.name: p.describe() for p in request.space.params},
        "fixed": {k: str(v) for k, v in sorted(request.fixed.items())},
        "seed": request.options.seed,
        "sampler": request.sampler,
        "dev_pairs": request.dev_pairs,
    }


def target_trials(request: AblationRequest) -> int:
    if request.trials is not None:
        if request.trials < 1:
            raise BenchError(f"--trials must be positive, got {request.trials}")
        return request.trials
    if request.sampler == "grid":
        size = 1
        for values in request.space.grid().values():
            size *= len(values)
        return size
    raise BenchError(f"--trials N is required with --sampler {request.sampler}")


def validate(request: AblationRequest) -> type:
    """Resolve the method and check the fixed settings and the space before anything runs."""
    from bench.core.method import METHODS

    cls = METHODS.get(request.method)
    clash = sorted(set(request.fixed) & set(request.space.names))
    if clash:
        raise BenchError(f"{', '.join(clash)}: searched (--param) and fixed (--set) at once; choose one")
    build_config(cls.Config, request.fixed)  # unknown field or bad value: error now
    if request.workers < 1:
        raise BenchError(f"--workers must be positive, got {request.workers}")
    if request.sampler == "grid":
        request.space.grid()
    from bench.core.sts_data import read_stsb

    read_stsb(request.options.data_dir, "dev")  # the objective's data: fail now, not in trial 0
    return cls


def open_study(request: AblationRequest, storage: Any, create: bool) -> Any:
    """Create or load the study; a loaded study must have been made by the same request."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # trials are announced by bench itself
    study = optuna.create_study(
        study_name=request.study,
        storage=storage,
        sampler=make_sampler(request.sampler, request.space, request.options.seed),
        pruner=make_pruner(request.pruner),
        direction="maximize",
        load_if_exists=True,
    )
    signature = study_signature(request)
    stored = study.user_attrs.get("signature")
    if stored is None and create:
        study.set_user_attr("signature", signature)
    elif stored is not None and stored != signature:
        changed = sorted(k for k in signature if stored.get(k) != signature[k])
        raise BenchError(
            f"study {request.study!r} already exists with different {', '.join(changed)}; "
            "resume it with the same arguments or pick another --study"
        )
    return study


def enqueue_defaults(study: Any, request: AblationRequest, config_cls: type) -> None:
    """Trial 0 is the method's default configuration (with the fixed settings), when it is in the space."""
    if study.trials or request.sampler == "grid":  # a grid lists the default itself, if wanted
        return
    defaults = request.space.defaults_inside(build_config(config_cls, request.fixed))
    if defaults is None:
        console.print("[yellow]the default configuration lies outside the space: no trial 0 enqueued")
        return
    study.enqueue_trial(defaults, user_attrs={"default": True})


def recover_dead_workers(study: Any, storage: Any, max_retry: int) -> int:
    """Fail (and requeue) RUNNING trials of worker processes on this host that no longer exist.

    Optuna's heartbeat does this for RDB storages after the grace period; journal storages have no
    heartbeat, and a restart on the same host should not wait either way."""
    import optuna
    from optuna.trial import TrialState

    host = socket.gethostname()
    recovered = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker") or {}
        if worker.get("host") != host or pid_alive(int(worker.get("pid", -1))):
            continue
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker got there first
            continue
        _retry_callback(max_retry)(study, study.trials[trial.number])
        recovered += 1
    return recovered


def fail_stale(study: Any, storage: Any, max_retry: int) -> None:
    """Requeue the trials of dead workers: same-host ones at once, others after the RDB heartbeat's grace."""
    import warnings

    from optuna.storages import fail_stale_trials

    recovered = recover_dead_workers(study, storage, max_retry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fail_stale_trials is marked experimental
        fail_stale_trials(study)  # a no-op for storages without a heartbeat
    if recovered:
        console.print(f"[yellow]{recovered} trial(s) of a killed worker marked failed and queued again")


def trial_counts(study: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def work(
    study: Any,
    storage: Any,
    objective: Callable[[Any], float],
    n_trials: int,
    max_retry: int,
    callbacks: list[Callable] | None = None,
) -> None:
    """Run trials until the study holds ``n_trials`` finished (or running) ones and none waits."""
    while True:
        fail_stale(study, storage, max_retry)
        counts = trial_counts(study)
        finished = sum(counts.get(s, 0) for s in FINISHED)
        if counts.get("WAITING", 0) == 0 and finished + counts.get("RUNNING", 0) >= n_trials:
            return
        study.optimize(objective, n_trials=1, catch=(), callbacks=callbacks)


def spawn_workers(argv: list[str], storage: str, count: int) -> list[subprocess.Popen]:
    """``count`` more worker processes of this command on the same storage (they skip the report)."""
    cmd = [sys.executable, "-m", "bench.cli", *argv, "--storage", storage, "--workers", "1", "--worker-only"]
    return [subprocess.Popen(cmd) for _ in range(count)]


def wait_workers(processes: list[subprocess.Popen]) -> list[int]:
    """Wait for (and so reap) the extra workers; returns the non-zero exit statuses."""
    return [code for code in (p.wait() for p in processes) if code != 0]


def describe_trial(trial: Any) -> str:
    params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
    if trial.state.name == "COMPLETE":
        outcome = f"{trial.value:.2f}"
    elif trial.state.name == "PRUNED" and trial.intermediate_values:
        step = max(trial.intermediate_values)
        outcome = f"pruned at step {step} (dev {trial.intermediate_values[step]:.2f})"
    else:
        outcome = trial.state.name.lower()
    return f"trial {trial.number} ({params}): {outcome}"


def worker_identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}
