"""The ``bench ablate`` flow: open (or resume) the study, run trials in this process and any extra
workers, write the report, then score the best configuration (and the default) once on the test suites."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape

from bench.ablation.report import best_config, write_report
from bench.ablation.study import (
    AblationRequest,
    describe_trial,
    enqueue_defaults,
    open_storage,
    open_study,
    resolve_storage,
    spawn_workers,
    target_trials,
    validate,
    wait_workers,
    work,
)
from bench.ablation.trial import TrialObjective
from bench.app.runner import ModelProvider, RunRequest
from bench.app.runner import run as run_suites
from bench.core.config import build_config
from bench.core.models import resolve_model
from bench.core.progress import console, warn


def run_ablation(
    request: AblationRequest,
    argv: Sequence[str],
    worker_only: bool = False,
    evaluate: Sequence[str] = ("sts",),
    eval_limit: int | None = None,
) -> dict[str, Any] | None:
    """Run the study to ``request.trials`` trials; unless ``worker_only``, report and evaluate."""
    cls = validate(request)
    storage_spec = resolve_storage(request)
    storage = open_storage(storage_spec, request.heartbeat, request.max_retry)
    study = open_study(request, storage, create=not worker_only)
    n_trials = target_trials(request)
    if not worker_only:
        enqueue_defaults(study, request, cls.Config)
        console.print(f"study {request.study!r} ({request.sampler}, {n_trials} trials) in {storage_spec}")
    options = request.options
    provider = ModelProvider(resolve_model(options.model), options.device, options.dtype)
    objective = TrialObjective(request, cls, provider)
    extra = [] if worker_only else spawn_workers(list(argv), storage_spec, request.workers - 1)

    def announce(study: Any, trial: Any) -> None:
        best = study.best_trial if any(t.state.name == "COMPLETE" for t in study.trials) else None
        tail = f"; best so far trial {best.number}: {best.value:.2f}" if best else ""
        console.print(f"[bold]{escape(describe_trial(trial))}[/bold]{tail}")

    try:
        work(study, storage, objective, n_trials, request.max_retry, callbacks=[announce])
    except BaseException:
        for process in extra:
            process.terminate()
        raise
    failed = wait_workers(extra)
    if failed:  # a worker that died mid-trial: its trial is failed and queued again, and run here
        work(study, storage, objective, n_trials, request.max_retry, callbacks=[announce])
        warn(
            f"{len(failed)} worker process(es) ended with exit status {', '.join(map(str, failed))}; "
            "their unfinished trials were queued again and completed by this process"
        )
    if worker_only:
        return None
    paths = write_report(study, request, cls.Config)
    console.print("[dim]written: " + ", ".join(str(p) for p in paths) + "[/dim]")
    if not any(t.state.name == "COMPLETE" for t in study.trials):
        return {"best": None, "paths": paths}
    best = best_config(study, request, cls.Config)
    console.print(f"best: trial {best['trial']} {best['params']} -> {best['value']:.2f} STS-B dev")
    keys = []
    if evaluate:
        default = build_config(cls.Config, request.fixed).to_dict()
        keys = _evaluate_on_test(request, best, default, provider, evaluate, eval_limit)
    return {"best": best, "paths": paths, "keys": keys}


def _evaluate_on_test(
    request: AblationRequest,
    best: dict[str, Any],
    default_config: dict[str, Any],
    provider: ModelProvider,
    suites: Sequence[str],
    limit: int | None,
) -> list:
    """The best configuration and the default (same fixed settings), each scored once on ``suites``."""
    runs = [(best["overrides"], "best")]
    if best["config"] != default_config:
        runs.append((dict(request.fixed), "default"))
    keys = []
    for overrides, tag in runs:
        console.rule(f"{request.method}[{tag}] on {', '.join(suites)} (test splits, scored once)")
        keys += run_suites(
            RunRequest(
                methods=[request.method], suites=list(suites), options=request.options, limit=limit,
                overrides={request.method: overrides}, seeds=request.eval_seeds,
                labels={request.method: f"{request.method}[{tag}]"},
            ),
            provider,
        )  # fmt: skip
    return keys
