"""Run files: a YAML file that says what ``bench run`` does, so that long recipes are files, not flags.

```yaml
methods: [prompteol, sempa]
suites: [sts]
tasks: [STSBenchmark]          # optional: a subset of the suites' tasks
model: smollm2-135m
seeds: [0, 1, 2]
limit: 400
train_samples: 1200
baseline: prompteol
settings:                      # per method: config field -> value (what --set METHOD.FIELD=VALUE does)
  sempa: {grad_accum: 2, eval_every: 15, dev_pairs: 300}
```

A flag given on the command line overrides the file's value; ``--set`` adds to (and overrides) the file's
``settings``. The resolved configuration is stored with every result the run computes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError


@dataclass(frozen=True)
class RunFile:
    """The contents of a run file; None: not given (the flag or its default applies)."""

    methods: list[str] | None = None
    suites: list[str] | None = None
    tasks: list[str] | None = None
    model: str | None = None
    seeds: list[int] | None = None
    limit: int | None = None
    train_samples: int | None = None
    baseline: str | None = None
    out: str | None = None
    data_dir: str | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_LISTS_OF_NAMES = ("methods", "suites", "tasks")
_TEXT = ("model", "baseline", "out", "data_dir")
_COUNTS = ("limit", "train_samples")


def _names(path: Path, key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BenchError(f"run file {path}: {key!r} must be a non-empty list of names, got {value!r}")
    return value


def load_run_file(path: Path) -> RunFile:
    """Read and check a run file; every problem is a one-line error naming the file and the key."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchError(f"cannot read run file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise BenchError(f"run file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise BenchError(f"run file {path} must be a mapping of keys (methods, suites, ...), not {data!r}")
    known = [f.name for f in fields(RunFile)]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (keys: {', '.join(known)})"
            raise BenchError(f"run file {path}: unknown key {key!r}{hint}")
        if value is None:
            continue
        if key in _LISTS_OF_NAMES:
            values[key] = _names(path, key, value)
        elif key in _TEXT:
            if not isinstance(value, str) or not value:
                raise BenchError(f"run file {path}: {key!r} must be a text value, got {value!r}")
            values[key] = value
        elif key in _COUNTS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise BenchError(f"run file {path}: {key!r} must be a non-negative integer, got {value!r}")
            values[key] = value
        elif key == "seeds":
            seeds = value if isinstance(value, list) else [value]
            if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
                raise BenchError(f"run file {path}: 'seeds' must be non-negative integers, got {value!r}")
            if len(set(seeds)) != len(seeds):
                raise BenchError(f"run file {path}: 'seeds' must be distinct, got {value!r}")
            values[key] = seeds
        elif key == "settings":
            values[key] = _settings(path, value)
    return RunFile(**values)


def _settings(path: Path, value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise BenchError(f"run file {path}: 'settings' must map method names to {{field: value}}")
    out: dict[str, dict[str, Any]] = {}
    for method, settings in value.items():
        if not isinstance(settings, dict) or not all(isinstance(k, str) for k in settings):
            raise BenchError(f"run file {path}: settings of {method!r} must map field names to values")
        out[str(method)] = {k: ("none" if v is None else v) for k, v in settings.items()}
    return out


def as_set_flags(settings: dict[str, dict[str, Any]]) -> list[str]:
    """The run file's settings as ``--set METHOD.FIELD=VALUE`` strings (booleans in their YAML form)."""
    flags = []
    for method, fields_ in settings.items():
        for name, value in fields_.items():
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            flags.append(f"{method}.{name}={shown}")
    return flags
