"""Run methods x suites x tasks, storing one result per task with its provenance; resumable."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape

from bench.app.int8_gate import Int8Gate, int8_gate
from bench.app.records import BASE_ROW, DataProvenance, MethodInfo, ResultRecord
from bench.app.store import ResultKey, ResultStore
from bench.core.atomic import check_writable_folder
from bench.core.distributed import decided_by_main, is_main_process, launched, main_process_first
from bench.core.embedding_cache import EmbeddingCache
from bench.core.errors import BenchError
from bench.core.hashing import array_sha256, json_digest
from bench.core.memo import CacheNamespace, EmbeddingMemo
from bench.core.method import METHODS, Method, RunContext, seed_everything
from bench.core.models import (
    DEFAULT_MODEL,
    LoadedModel,
    ModelSpec,
    check_device,
    default_device,
    default_dtype,
    load_model,
    model_shape,
    resolve_model,
)
from bench.core.options import RuntimeOptions
from bench.core.progress import console, stage, warn
from bench.core.provenance import environment, file_checksums, package_versions, peak_memory_mb
from bench.core.quantize import INT8, INT8_RECIPE, int8_calibration_texts
from bench.core.settings import embedding_cache_path
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
    seeds: list[int] | None = None  # seeds of seed-dependent methods (None: the options' seed)
    run_config: dict[str, Any] | None = None  # the resolved run file + flags, stored with every result


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ModelProvider:
    """Loads the run's model once, on first use, and shares it across methods."""

    def __init__(
        self, spec: ModelSpec, device: str | None, dtype: str | None, data_dir: Path | None = None
    ) -> None:
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.data_dir = data_dir  # where the int8 lane's calibration sentences are read
        self._loaded: LoadedModel | None = None

    def __call__(self) -> LoadedModel:
        if self._loaded is None:
            lane = self.dtype == INT8 and self.data_dir is not None
            calibration = int8_calibration_texts(self.data_dir) if lane else ()
            with console.status(f"loading model {self.spec.name}"):
                self._loaded = load_model(self.spec, self.device, self.dtype, calibration)
        return self._loaded


def validate(request: RunRequest) -> tuple[list[type[Method]], list[Suite]]:
    """Check every name, config value, limit, output folder and the device before anything runs (no
    model is loaded), so that a typo fails in a second, not after minutes of work."""
    if len(set(request.methods)) != len(request.methods):
        warn(f"--methods names a method twice ({', '.join(request.methods)}); each runs once")
        request.methods = list(dict.fromkeys(request.methods))
    method_classes = [METHODS.get(name) for name in request.methods]
    suite_objects = [SUITES.get(name) for name in request.suites]
    for name, fields in request.overrides.items():
        METHODS.get(name)
        if name not in request.methods:
            shown = ", ".join(f"{name}.{f}" for f in fields)
            warn(f"--set {shown} is ignored: {name!r} is not in --methods ({', '.join(request.methods)})")
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
    for suite in suite_objects:
        if request.limit and request.limit < suite.min_examples:
            raise BenchError(
                f"--limit {request.limit} is too small for suite {suite.name!r}: it needs at least "
                f"{suite.min_examples} examples per task"
            )
    for cls in method_classes:
        cls.build_config(request.overrides.get(cls.name, {}))
    check_runtime(request.options)
    if request.options.dtype == INT8:
        check_int8_lane(method_classes, suite_objects)
    data_dir = request.options.data_dir
    if data_dir is not None:  # missing, malformed or unscorable data fails here, before any model loads
        for suite in suite_objects:
            for task in suite.task_names():
                if not request.tasks or task in request.tasks:
                    limit = request.limit if request.limit else suite.default_limit(task, "cpu")
                    suite.check_task(task, data_dir, limit)
    return method_classes, suite_objects


def check_runtime(options: RuntimeOptions) -> None:
    """The results folder (and its runs/, tables/) can be written, and the device exists."""
    check_writable_folder(options.out, "--out")
    for sub in ("runs", "tables"):
        check_writable_folder(options.out / sub, f"--out {options.out}: its {sub}/ folder")
    check_device(options.device)


def check_int8_lane(method_classes: list[type[Method]], suites: list[Suite]) -> None:
    """The int8 lane embeds with training-free methods; training and generation stay in full precision."""
    trained = [cls.name for cls in method_classes if cls.trains]
    if trained:
        raise BenchError(f"--dtype int8 is for training-free methods; {', '.join(trained)} train(s)")
    generative = [suite.name for suite in suites if suite.scores_causal_lm]
    if generative:
        raise BenchError(f"--dtype int8 is for embedding suites; {', '.join(generative)} score(s) the LM")


def check_methods_fit_model(request: RunRequest, method_classes: list[type[Method]], spec: ModelSpec) -> None:
    """Config values that depend on the model (layers) are checked against its config, before loading."""
    llm_methods = [cls for cls in method_classes if cls.uses_llm]
    if not llm_methods:
        if request.options.model != DEFAULT_MODEL:
            names = ", ".join(cls.name for cls in method_classes)
            warn(f"--model {request.options.model} is not used: {names} do(es) not use an LLM")
        return
    shape = model_shape(spec)
    for cls in llm_methods:
        cls.check_model(cls.build_config(request.overrides.get(cls.name, {})), shape)


def effective_limit(
    suite: Suite, task: str, requested: int | None, device: str, data_dir: Path | None = None
) -> int | None:
    """The limit a task runs with: --limit N, 0 for everything, or the suite's default for the device;
    None (the whole task) when it is at or above the task's size."""
    if requested == 0:
        return None
    limit = requested if requested is not None else suite.default_limit(task, device)
    if limit is not None and data_dir is not None:
        size = suite.task_size(task, data_dir)
        if size is not None and limit >= size:
            return None
    return limit


def model_namespace(method: Method, spec: ModelSpec, dtype: str | None = None) -> str:
    """Where a method's results are stored: the run model's weights hash (with ``-int8`` for the int8
    lane, so its results never mix with fp32 ones), or the method's own encoder's for a method that
    ignores ``--model`` (so it is stored once, not under every LLM)."""
    if not method.uses_llm:
        info = method.encoder_info() or {}
        digest = info.get("weights_sha256")
        return f"encoder-{digest[:12]}" if digest else f"encoder-{method.name}"
    namespace = spec.weights_sha256[:12] if spec.weights_sha256 else spec.slug()
    return f"{namespace}-{INT8}" if dtype == INT8 else namespace


def data_digest(suite: Suite, task: str, data_dir: Path | None) -> str:
    """Short digest of the checksums of the files a task reads (different data: a different result)."""
    if data_dir is None:
        return ""
    return json_digest(file_checksums(suite.data_files(task, data_dir), data_dir), length=8)


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
    if provider is not None:
        spec = provider.spec
    elif any(cls.uses_llm for cls in method_classes):
        spec = main_process_first(lambda: resolve_model(request.options.model))  # converts once
    else:  # no method of the run uses the LLM: nothing to resolve (or convert)
        spec = ModelSpec(request.options.model, "unused", "", None)
    check_methods_fit_model(request, method_classes, spec)
    provider = provider or ModelProvider(
        spec, request.options.device, request.options.dtype, request.options.data_dir
    )
    store = ResultStore(request.options.out)
    if is_main_process():
        store.remove_stale_temp_files()
    steps = _plan(request, method_classes, suite_objects, spec, store)
    progress = RunProgress(steps)
    session = _Session(request, suite_objects, spec, provider, store, environment(), set(), progress)
    keys: list[ResultKey] = []
    for (cls, seed), method_steps in _by_method(steps).items():
        keys += _run_method(cls, seed, method_steps, session)
    return keys


@dataclass(frozen=True)
class PlannedStep:
    """One result a run covers: which method, seed, suite and task, under which key, and its row label."""

    cls: type[Method]
    seed: int
    suite: Suite
    task: str
    key: ResultKey
    label: str
    shared: bool  # the base row of a causal-LM suite (computed once for every training-free method)
    stored: bool  # a valid result is already stored (and --overwrite/--retrain do not apply)
    repeat: bool = False  # the same key as an earlier step (the shared base row): computed at most once


def _plan(
    request: RunRequest,
    method_classes: list[type[Method]],
    suites: list[Suite],
    spec: ModelSpec,
    store: ResultStore,
    read_only: bool = False,
) -> list[PlannedStep]:
    """Every (method, seed, suite, task) of the run with its result key, in execution order;
    ``read_only``: an unreadable stored file is left where it is (a dry run changes nothing)."""
    options = request.options
    device = options.device or default_device()
    steps: list[PlannedStep] = []
    planned: set[ResultKey] = set()
    for cls in method_classes:
        # a training-free method is deterministic: computed once, with seed 0, whatever --seeds says
        seeds = (request.seeds or [options.seed]) if cls.depends_on_seed() else [0]
        overwrite = _overwrites(request, cls)
        for seed in seeds:
            context = RunContext(load_model=_no_model, options=options.with_seed(seed))
            method = cls.from_overrides(request.overrides.get(cls.name, {}), context)  # loads nothing
            label = request.labels.get(cls.name, method.label())
            for suite in suites:
                scored = scored_model(method, suite)
                if scored is None:
                    console.print(f"[yellow]{escape(label)}: no causal LM, suite {suite.name} skipped")
                    continue
                namespace = model_namespace(method, spec, options.dtype)
                for task in suite.task_names():
                    if request.tasks and task not in request.tasks:
                        continue
                    limit = effective_limit(suite, task, request.limit, device, options.data_dir)
                    digest = data_digest(suite, task, options.data_dir)
                    key_seed = seed if cls.depends_on_seed() else None
                    key = ResultKey(namespace, scored.name, scored.config_hash, task, limit, key_seed, digest)
                    shown = BASE_ROW if scored.shared else label
                    if key in planned:
                        steps.append(PlannedStep(cls, seed, suite, task, key, shown, True, True, repeat=True))
                        continue
                    planned.add(key)
                    stored = not overwrite and decided_by_main(
                        lambda key=key: store.has_valid(key, move_invalid=not read_only)
                    )
                    steps.append(PlannedStep(cls, seed, suite, task, key, shown, scored.shared, stored))
    return steps


def _overwrites(request: RunRequest, cls: type[Method]) -> bool:
    """Whether stored results of this method are recomputed (--overwrite, or --retrain for trained ones)."""
    return request.overwrite or (request.retrain and cls.trains)


def _no_model() -> LoadedModel:
    raise BenchError("internal: planning a run must not load a model")


def _by_method(steps: list[PlannedStep]) -> dict[tuple[type[Method], int], list[PlannedStep]]:
    grouped: dict[tuple[type[Method], int], list[PlannedStep]] = {}
    for step in steps:
        grouped.setdefault((step.cls, step.seed), []).append(step)
    return grouped


def plan(request: RunRequest) -> list[PlannedStep]:
    """What ``run(request)`` would do, without converting or loading a model (``--dry-run``)."""
    method_classes, suite_objects = validate(request)
    if any(cls.uses_llm for cls in method_classes):
        spec = resolve_model(request.options.model, convert=False)
    else:
        spec = ModelSpec(request.options.model, "unused", "", None)
    if Path(spec.path, "config.json").is_file():  # layers vs the model: possible once it is converted
        check_methods_fit_model(request, method_classes, spec)
    return _plan(
        request, method_classes, suite_objects, spec, ResultStore(request.options.out), read_only=True
    )


class RunProgress:
    """Position in the whole run and an estimate of the time left (from this run's computed tasks)."""

    def __init__(self, steps: list[PlannedStep]) -> None:
        self.total = len(steps)
        self.to_compute = sum(not step.stored for step in steps)  # repeats count as stored
        self.position = 0
        self.computed = 0
        self.seconds = 0.0

    def start(self) -> str:
        self.position += 1
        return f"[{self.position}/{self.total}]"

    def finished(self, seconds: float) -> str:
        self.computed += 1
        self.seconds += seconds
        left = self.to_compute - self.computed
        if left <= 0:
            return ""
        minutes = self.seconds / self.computed * left / 60
        return f"; {left} more to compute, about {minutes:.0f} min left (not counting training)"


@dataclass
class _Session:
    """What every method of one run shares."""

    request: RunRequest
    suites: list[Suite]
    spec: ModelSpec
    provider: ModelProvider
    store: ResultStore
    env: dict[str, Any]
    computed: set[ResultKey]  # this run's results (a shared one is computed once)
    progress: RunProgress
    int8_gates: dict[str, Int8Gate] = field(default_factory=dict)  # method name -> the gate it passed


def _run_method(cls: type[Method], seed: int, steps: list[PlannedStep], session: _Session) -> list[ResultKey]:
    """The planned steps of one method with one seed; returns their keys (computed or reused)."""
    request, store = session.request, session.store
    options = request.options.with_seed(seed)
    # not inside a multi-process launch: every process must encode the same sentences, so that none
    # waits for another in the engine's gather while that one reads its vectors from the cache
    cache = EmbeddingCache(embedding_cache_path()) if options.cache_embeddings and not launched() else None

    def memoised(some: Method) -> EmbeddingMemo:
        return EmbeddingMemo(some.encode, cache, lambda: cache_namespace(some, session.provider))

    context = RunContext(
        load_model=session.provider, options=options, retrain=request.retrain, member_encoder=memoised
    )
    seed_everything(seed)
    method = cls.from_overrides(request.overrides.get(cls.name, {}), context)
    memo = memoised(method)
    evaluand = Evaluand.of(method, memo)
    prepared = False
    seeds_shown = cls.depends_on_seed() and len(request.seeds or []) > 1
    overwrite = _overwrites(request, cls)
    row = request.labels.get(cls.name, method.label())
    keys: list[ResultKey] = []
    try:
        for step in steps:
            key, suite, task = step.key, step.suite, step.task
            scored = scored_model(method, suite)
            assert scored is not None
            position = session.progress.start()
            shown = f"{position} " + escape(row + (" (= base)" if step.shared else ""))
            shown += f" seed {seed}" if seeds_shown else ""
            keys.append(key)
            # stored now: planned as such, or finished meanwhile by a concurrent run
            stored = step.stored or (not overwrite and decided_by_main(lambda key=key: store.has_valid(key)))
            if key in session.computed or stored:
                console.print(f"[dim]{shown} / {task}: stored result reused ({store.path(key)})[/dim]")
                if not step.shared and not step.repeat and cls.name in request.labels:
                    _relabel(store, key, request.labels[cls.name])
                continue
            with stage(f"{position} {task}:"):
                if not prepared:
                    method.prepare()
                    prepared = True
                    if options.dtype == INT8 and method.uses_llm:
                        session.int8_gates[method.name] = _open_int8_lane(method, session)
                record, predictions = _evaluate(
                    method, scored, evaluand, memo, suite, task, key.limit, request, session, key.model
                )
            path = store.write(key, record, predictions) if is_main_process() else store.path(key)
            session.computed.add(key)
            seconds = record.timing["seconds"]
            console.print(
                f"{shown} / {task}: {record.main_score:.2f} ({seconds:.0f} s) -> {path}"
                + session.progress.finished(seconds)
            )
    finally:
        method.release()
    return keys


def _open_int8_lane(method: Method, session: _Session) -> Int8Gate:
    """The int8 gate of ``method`` on the run's model; a one-line error when the lane stays closed."""
    gate = int8_gate(method, session.spec, session.request.options, int8_model=session.provider())
    console.print(f"{method.name}: {gate.summary()}")
    if not gate.passed:
        raise BenchError(f"{method.name}: int8 refused on {session.spec.name} ({gate.summary()}); use fp32")
    return gate


def _namespace_key(memo: EmbeddingMemo) -> str | None:
    namespace = memo.namespace()
    return namespace.key if namespace is not None else None


CACHE_PACKAGES = ("torch", "transformers", "peft", "sentence-transformers")


def cache_namespace(method: Method, provider: ModelProvider) -> CacheNamespace | None:
    """The persistent-cache namespace of a prepared method: its embedding identity, the model's weights,
    device kind, dtype and the versions of the libraries that compute the vectors (None: not cacheable,
    e.g. a hub model whose weights and revision are unknown)."""
    identity = method.embedding_identity()
    if identity is None:
        return None
    model = None
    device = provider.device or default_device()
    if method.uses_llm:
        spec = provider.spec if provider.spec.weights_sha256 else provider().spec
        if not (spec.weights_sha256 or spec.revision):
            return None
        dtype = provider.dtype or default_dtype(device)
        model = {"name": spec.name, "weights_sha256": spec.weights_sha256, "revision": spec.revision,
                 "dtype": dtype, **({"int8_lane": INT8_RECIPE.id} if dtype == INT8 else {})}  # fmt: skip
    versions = {k: v for k, v in package_versions().items() if k in CACHE_PACKAGES}
    description = {"model": model, "device": device.split(":")[0], **identity, "packages": versions}
    text = json.dumps(description, sort_keys=True, default=str)
    return CacheNamespace(json_digest(description, length=None), text)


def _relabel(store: ResultStore, key: ResultKey, label: str) -> None:
    """Give a reused result the row label this run asked for (e.g. ``sempa[best]``)."""
    if is_main_process():
        store.relabel(key, label)


def _evaluate(
    method: Method,
    scored: ScoredModel,
    evaluand: Evaluand,
    memo: EmbeddingMemo,
    suite: Suite,
    task: str,
    limit: int | None,
    request: RunRequest,
    session: _Session,
    namespace: str,
) -> tuple[ResultRecord, dict[str, np.ndarray]]:
    """Score one task; returns the record and the per-item predictions to store beside it."""
    provider = session.provider
    encoded_before, seconds_before, cached_before = memo.encoded, memo.seconds, memo.from_cache
    started = _now()
    start = time.perf_counter()
    options = method.context.options
    outcome = suite.evaluate(evaluand, task, options.data_dir, limit)
    elapsed = time.perf_counter() - start
    encoded = memo.encoded - encoded_before
    encode_seconds = memo.seconds - seconds_before
    if method.uses_llm:
        model_info = provider().describe()
    else:
        model_info = {**(method.encoder_info() or {}), "shared_across_models": True}
    model_info["slug"] = provider.spec.slug() if method.uses_llm else namespace
    model_info["namespace"] = namespace
    details = dict(outcome.details)
    if request.run_config is not None:
        details["run_config"] = request.run_config
    if outcome.predictions:
        details["predictions"] = {"arrays": {name: len(v) for name, v in outcome.predictions.items()}}
        if "gold" in outcome.predictions:
            details["predictions"]["gold_sha256"] = array_sha256(outcome.predictions["gold"])
    if method.name in session.int8_gates:
        details["int8_gate"] = asdict(session.int8_gates[method.name])
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
        seed=options.seed,
        data=DataProvenance(
            str(options.data_dir), file_checksums(suite.data_files(task, options.data_dir), options.data_dir)
        ),
        timing={
            "started": started,
            "finished": _now(),
            "seconds": round(elapsed, 3),
            "encoded_sentences": encoded,
            "cached_sentences": memo.from_cache - cached_before,  # read from the persistent cache
            "encode_seconds": round(encode_seconds, 3),
            "sentences_per_s": round(encoded / encode_seconds, 2) if encode_seconds > 0 else None,
            **outcome.stats,
        },
        peak_memory=peak_memory_mb(),
        runtime={
            "batch_size": options.batch_size,
            "device": options.device,
            "dtype": options.dtype,
            "embedding_cache": _namespace_key(memo),
        },  # fmt: skip
        environment=session.env,
        details=details,
    ), outcome.predictions
