"""Typed result records (one per model x method config x task x limit) and their long table form.

A record is stored as one JSON object; the layout is the one earlier versions wrote (suite-specific
provenance such as ``lm_eval`` sits at the top level), so existing result folders load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA_VERSION = 1

BASE_ROW = "base"
"""Row name of the unchanged model in suites that score the causal LM (shared by every
training-free method)."""


@dataclass(frozen=True)
class MethodInfo:
    """Which method (and configuration) produced a result, and the row label it is shown under."""

    name: str
    label: str
    config_hash: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] | None = None  # trained methods: adapter, steps, selection
    shared_by: str | None = None  # the base row: which methods it stands for
    computed_with: str | None = None  # the base row: the method whose run computed it

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MethodInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class DataProvenance:
    """The benchmark files a result read, with their SHA-256."""

    data_dir: str | None = None
    files: list[dict[str, str]] = field(default_factory=list)  # [{path, sha256}]


@dataclass(frozen=True)
class ResultRecord:
    """One stored result and how it was made."""

    model: dict[str, Any]  # identity: name, slug, kind, weights_sha256, parameters (or the encoder's)
    method: MethodInfo
    suite: str
    task: str
    main_score: float
    limit: int | None = None  # None: the whole task
    split: str | None = None
    limit_source: str | None = None
    n_examples: int | None = None
    main_metric: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    data: DataProvenance = field(default_factory=DataProvenance)
    timing: dict[str, Any] = field(default_factory=dict)
    peak_memory: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)  # packages, git commit, host
    details: dict[str, Any] = field(default_factory=dict)  # suite-specific provenance (e.g. lm_eval)
    path: Path | None = None  # where it was read from (not stored)

    @property
    def model_slug(self) -> str:
        """The run's model as a file-name-safe slug (the folder its results are stored under)."""
        if self.model.get("slug"):
            return str(self.model["slug"])
        return Path(self.model.get("run_model") or self.model["name"]).name.replace("/", "__")

    @property
    def model_namespace(self) -> str:
        """The weights namespace results are grouped by (older records: the slug)."""
        return str(self.model.get("namespace") or self.model_slug)

    @property
    def shared_across_models(self) -> bool:
        """True for a method that ignores the run's model (e.g. sbert): shown beside every model."""
        return bool(self.model.get("shared_across_models"))

    def relabelled(self, label: str) -> ResultRecord:
        return replace(self, method=replace(self.method, label=label))

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON layout."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for f in fields(self):
            if f.name in ("details", "path"):
                continue
            value = getattr(self, f.name)
            if f.name == "method":
                value = value.to_dict()
            elif f.name == "data":
                value = {"data_dir": value.data_dir, "files": value.files}
            out[f.name] = value
        clash = set(self.details) & set(out)
        if clash:
            raise ValueError(f"suite details would overwrite record fields: {sorted(clash)}")
        return {**out, **self.details}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> ResultRecord:
        """Read the stored layout (fields missing from older files take their defaults); ValueError names
        the first thing that makes ``data`` not a result record."""
        check_record_layout(data)
        known = {f.name for f in fields(cls)} - {"details", "path"}
        values = {k: v for k, v in data.items() if k in known}
        values["method"] = MethodInfo.from_dict(data["method"])
        if "data" in data:
            values["data"] = DataProvenance(data["data"].get("data_dir"), list(data["data"].get("files", [])))
        details = {k: v for k, v in data.items() if k not in known and k != "schema"}
        return cls(**values, details=details, path=path)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_record_layout(data: Any) -> None:
    """Raise ValueError unless ``data`` has the fields and types every stored result has."""
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__}, not an object")
    for name, kind in (("model", dict), ("method", dict), ("suite", str), ("task", str)):
        if name not in data:
            raise ValueError(f"field {name!r} is missing")
        if not isinstance(data[name], kind):
            raise ValueError(f"field {name!r} is a {type(data[name]).__name__}, not a {kind.__name__}")
    for name in ("name", "label"):
        if not isinstance(data["method"].get(name), str):
            raise ValueError(f"field 'method.{name}' is missing or not a string")
    if not (data["model"].get("name") or data["model"].get("slug")):
        raise ValueError("field 'model' names no model")
    score = data.get("main_score")
    if not _is_number(score) or score != score or score in (float("inf"), float("-inf")):
        raise ValueError(f"field 'main_score' is {score!r}, not a finite number")
    limit = data.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"field 'limit' is {limit!r}, not a positive integer or null")
    if not isinstance(data.get("seed", 0), int):
        raise ValueError(f"field 'seed' is {data.get('seed')!r}, not an integer")
    for name in ("data", "scores", "timing", "environment"):
        if name in data and not isinstance(data[name], dict):
            raise ValueError(f"field {name!r} is a {type(data[name]).__name__}, not an object")


RECORD_COLUMNS = [
    "model", "model_name", "shared", "suite", "task", "limit", "method", "label", "config_hash", "seed",
    "score", "n_examples",
]  # fmt: skip


def records_frame(records: list[ResultRecord]) -> pd.DataFrame:
    """One row per record: model namespace and display name, suite, task, limit, method, label, config
    hash, seed, score."""
    rows = [
        {
            "model": r.model_namespace,
            "model_name": r.model_slug,
            "shared": r.shared_across_models,
            "suite": r.suite,
            "task": r.task,
            "limit": r.limit,
            "method": r.method.name,
            "label": r.method.label,
            "config_hash": r.method.config_hash,
            "seed": r.seed,
            "score": r.main_score,
            "n_examples": r.n_examples,
        }
        for r in records
    ]
    frame = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    return frame.astype({"limit": "Int64", "n_examples": "Int64"})
