"""Run methods x suites x tasks, storing one result per task with its provenance; resumable."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rich.markup import escape

from bench.app.records import BASE_ROW, DataProvenance, MethodInfo, ResultRecord
from bench.app.store import ResultKey, ResultStore
from bench.core.errors import BenchError
from bench.core.memo import EmbeddingMemo
from bench.core.method import METHODS, Method, RunContext, seed_everything
from bench.core.models import LoadedModel, ModelSpec, default_device, load_model, resolve_model
from bench.core.options import RuntimeOptions
from bench.core.progress import console
from bench.core.provenance import environment, file_checksums, peak_memory_mb
from bench.core.suite import SUITES, Evaluand, Suite


@dataclass
class RunRequest:
    methods: list[str]
    suites: list[str]
    options: RuntimeOptions
    tasks: list[str] | None = None
    limit: int | None = None  # None: each suite's default (all, or a per-task CPU default); 0: all
    overwrite: bool = False
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> field -> value
    retrain: bool = False  # retrain adapters (and recompute results) of trained methods
    train_samples: int | None = None  # cap on training examples, for every trained method in the run
    labels: dict[str, str] = field(default_factory=dict)  # method -> row label (e.g. "sempa[best]")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ModelProvider:
    """Loads the run's model once, on first use, and shares it across methods."""

    def __init__(self, spec: ModelSpec, device: str | None, dtype: str | None) -> None:
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self._loaded: LoadedModel | None = None

    def __call__(self) -> LoadedModel:
        if self._loaded is None:
            with console.status(f"loading model {self.spec.name}"):
                self._loaded = load_model(self.spec, self.device, self.dtype)
        return self._loaded


def validate(request: RunRequest) -> tuple[list[type[Method]], list[Suite]]:
    """Resolve every name before anything runs, so a typo fails fast."""
    method_classes = [METHODS.get(name) for name in request.methods]
    suite_objects = [SUITES.get(name) for name in request.suites]
    for name in request.overrides:
        METHODS.get(name)
    if request.train_samples is not None:
        trained = [cls.name for cls in method_classes if cls.trains]
        if not trained:
            raise BenchError("--train-samples applies to trained methods only (none in --methods)")
        if request.train_samples < 1:
            raise BenchError(f"--train-samples must be positive, got {request.train_samples}")
        for name in trained:
            request.overrides.setdefault(name, {}).setdefault("train_samples", request.train_samples)
    if request.tasks:
        known = {task for suite in suite_objects for task in suite.task_names()}
        for task in request.tasks:
            if task not in known:
                raise BenchError(
                    f"unknown task {task!r} for suites {request.suites} (tasks: {', '.join(sorted(known))})"
                )
    return method_classes, suite_objects


def effective_limit(suite: Suite, task: str, requested: int | None, device: str) -> int | None:
    """The limit a task runs with: --limit N, 0 for everything, or the suite's default for the device."""
    if requested == 0:
        return None
    if requested is not None:
        return requested
    return suite.default_limit(task, device)


@dataclass(frozen=True)
class ScoredModel:
    """What a result is stored under: the method itself, or ``base`` for suites that score the causal
    LM, where every training-free method leaves the same (unchanged) model."""

    name: str
    config_hash: str
    label: str
    shared: bool = False


BASE = ScoredModel(BASE_ROW, "model", BASE_ROW, shared=True)


def scored_model(method: Method, suite: Suite) -> ScoredModel | None:
    """None when the suite does not apply (a suite scoring causal LMs, a method without one)."""
    if not suite.scores_causal_lm:
        return ScoredModel(method.name, method.config_hash, method.label())
    if not method.uses_llm:
        return None
    if not method.trains:
        return BASE
    return ScoredModel(method.name, method.config_hash, method.label())


def run(request: RunRequest, provider: ModelProvider | None = None) -> list[ResultKey]:
    """Execute the request; returns the keys of all results it covers (computed or reused).
    ``provider``: an already loaded model of the requested model to reuse (e.g. across ablation trials)."""
    method_classes, suite_objects = validate(request)
    spec = provider.spec if provider is not None else resolve_model(request.options.model)
    provider = provider or ModelProvider(spec, request.options.device, request.options.dtype)
    store = ResultStore(request.options.out)
    store.remove_stale_temp_files()
    context = RunContext(load_model=provider, options=request.options, retrain=request.retrain)
    env = environment()
    device = request.options.device or default_device()
    keys: list[ResultKey] = []
    computed: set[ResultKey] = set()  # this run's results (a shared one is computed once)
    for cls in method_classes:
        seed_everything(request.options.seed)
        method = cls.from_overrides(request.overrides.get(cls.name, {}), context)
        memo = EmbeddingMemo(method.encode)
        evaluand = Evaluand.of(method, memo)
        prepared = False
        overwrite = request.overwrite or (request.retrain and cls.trains)
        try:
            for suite in suite_objects:
                scored = scored_model(method, suite)
                if scored is None:
                    console.print(
                        f"[yellow]{escape(method.label())}: no causal LM, suite {suite.name} skipped"
                    )
                    continue
                for task in suite.task_names():
                    if request.tasks and task not in request.tasks:
                        continue
                    limit = effective_limit(suite, task, request.limit, device)
                    key = ResultKey(spec.slug(), scored.name, scored.config_hash, task, limit)
                    keys.append(key)
                    label = request.labels.get(cls.name, method.label())
                    shown = escape(label + (" (= base)" if scored.shared else ""))
                    if key in computed or (store.exists(key) and not overwrite):
                        console.print(
                            f"[dim]{shown} / {task}: stored result reused ({store.path(key)})[/dim]"
                        )
                        if not scored.shared and cls.name in request.labels:
                            _relabel(store, key, request.labels[cls.name])
                        continue
                    if not prepared:
                        method.prepare()
                        prepared = True
                    record = _evaluate(
                        method, scored, evaluand, memo, suite, task, limit, request, provider, env
                    )
                    path = store.write(key, record)
                    computed.add(key)
                    console.print(
                        f"{shown} / {task}: {record.main_score:.2f} "
                        f"({record.timing['seconds']:.0f} s) -> {path}"
                    )
        finally:
            method.release()
    return keys


def _relabel(store: ResultStore, key: ResultKey, label: str) -> None:
    """Give a reused result the row label this run asked for (e.g. ``sempa[best]``)."""
    record = store.read(key)
    if record.method.label != label:
        store.write(key, record.relabelled(label))


def _evaluate(
    method: Method,
    scored: ScoredModel,
    evaluand: Evaluand,
    memo: EmbeddingMemo,
    suite: Suite,
    task: str,
    limit: int | None,
    request: RunRequest,
    provider: ModelProvider,
    env: dict[str, Any],
) -> ResultRecord:
    encoded_before, seconds_before = memo.encoded, memo.seconds
    started = _now()
    start = time.perf_counter()
    options = request.options
    outcome = suite.evaluate(evaluand, task, options.data_dir, limit)
    elapsed = time.perf_counter() - start
    encoded = memo.encoded - encoded_before
    encode_seconds = memo.seconds - seconds_before
    if method.uses_llm:
        model_info = provider().describe()
    else:
        model_info = {**(method.encoder_info() or {}), "run_model": provider.spec.name}
    model_info["slug"] = provider.spec.slug()
    training = method.training_info()
    if scored.shared:
        method_info = MethodInfo(
            name=scored.name,
            label=scored.label,
            config_hash=scored.config_hash,
            shared_by="every training-free method (the unchanged model)",
            computed_with=method.name,
        )
    else:
        method_info = MethodInfo(
            name=method.name,
            label=request.labels.get(method.name, method.label()),
            config_hash=method.config_hash,
            config=method.config.to_dict(),
            training=training or None,
        )
    return ResultRecord(
        model=model_info,
        method=method_info,
        suite=suite.name,
        task=task,
        split=outcome.split,
        limit=limit,
        limit_source="--limit" if request.limit else ("all" if limit is None else "suite default"),
        n_examples=outcome.n_examples,
        main_metric=outcome.main_metric,
        main_score=outcome.main_score,
        scores=outcome.scores,
        seed=request.options.seed,
        data=DataProvenance(
            str(options.data_dir), file_checksums(suite.data_files(task, options.data_dir), options.data_dir)
        ),
        timing={
            "started": started,
            "finished": _now(),
            "seconds": round(elapsed, 3),
            "encoded_sentences": encoded,
            "encode_seconds": round(encode_seconds, 3),
            "sentences_per_s": round(encoded / encode_seconds, 2) if encode_seconds > 0 else None,
            **outcome.stats,
        },
        peak_memory=peak_memory_mb(),
        runtime={"batch_size": options.batch_size, "device": options.device, "dtype": options.dtype},
        environment=env,
        details=outcome.details,
    )
