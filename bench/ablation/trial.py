"""The objective of ``bench ablate``: one trial = the method with the trial's settings, scored on
STS-B dev (never a test split). Trained methods report their dev checkpoints to Optuna as they train,
so the pruner can stop a lagging trial; cached adapters and stored dev results are reused."""

from __future__ import annotations

from typing import Any

from bench.ablation.study import AblationRequest, worker_identity
from bench.core.errors import BenchError
from bench.core.method import Method, RunContext, seed_everything
from bench.core.progress import console


def pruning_reporter(trial: Any):
    """The trainer's ``on_dev_score`` hook: report each dev checkpoint; prune when the pruner says so."""

    def report(step: int, value: float) -> None:
        import optuna

        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"STS-B dev {value:.2f} at step {step} is below the pruner's bar")

    return report


class TrialObjective:
    """Callable for ``study.optimize``; loads the model once per worker process."""

    def __init__(self, request: AblationRequest, method_cls: type[Method], load_model: Any) -> None:
        self.request = request
        self.method_cls = method_cls
        self.load_model = load_model

    def __call__(self, trial: Any) -> float:
        params = self.request.space.suggest(trial)
        overrides = {**self.request.fixed, **params}
        trial.set_user_attr("worker", worker_identity())
        console.rule(f"trial {trial.number}: " + ", ".join(f"{k}={v}" for k, v in params.items()))
        if self.method_cls.trains:
            value, info = self._trained(trial, overrides)
        else:
            value, info = self._training_free(overrides)
        for key, item in info.items():
            trial.set_user_attr(key, item)
        return value

    def _context(self, on_dev_score=None) -> RunContext:
        r = self.request
        return RunContext(load_model=self.load_model, options=r.options, on_dev_score=on_dev_score)

    def _trained(self, trial: Any, overrides: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        seed_everything(self.request.options.seed)
        method = self.method_cls.from_overrides(overrides, self._context(pruning_reporter(trial)))
        try:
            method.prepare()
        finally:
            method.release()
        summary = method.summary or {}  # type: ignore[attr-defined]
        if summary.get("best_dev") is None:
            raise BenchError(f"{method.name} training reported no STS-B dev score (eval_every=0?)")
        info = {
            "label": method.label(),
            "config_hash": method.config_hash,
            "adapter": str(method.folder.path) if method.folder else None,  # type: ignore[attr-defined]
            "best_step": summary.get("best_step"),
            "steps": summary.get("steps"),
            "train_seconds": summary.get("seconds"),
            "dev_curve": summary.get("dev_curve"),
        }
        return float(summary["best_dev"]), info

    def _training_free(self, overrides: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """The ``sts-dev`` suite through the runner: its stored results are reused across trials."""
        from bench.app.runner import RunRequest, run
        from bench.app.store import ResultStore

        r = self.request
        request = RunRequest(
            methods=[r.method], suites=["sts-dev"], options=r.options, limit=r.dev_pairs or 0,
            overrides={r.method: overrides},
        )  # fmt: skip
        (key,) = run(request, self.load_model)
        record = ResultStore(r.options.out).read(key)
        info = {"label": record.method.label, "config_hash": key.config_hash, "result": str(key)}
        return float(record.main_score), info
