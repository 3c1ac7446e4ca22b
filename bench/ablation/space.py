"""Search spaces for ``bench ablate``: parsed from ``--param`` strings or a YAML file, validated
against a method's config fields before anything runs, turned into Optuna suggestions.

Syntax (``--param FIELD=SPEC`` or ``FIELD: SPEC`` in YAML)::

    log:LOW:HIGH        log-uniform (float field; int field: integers, log scale)
    float:LOW:HIGH      uniform float            int:LOW:HIGH[:STEP]   integers
    choice:A,B,C        categorical (values converted to the field's type)

In YAML a spec may also be a mapping: ``{type: log, low: 0.01, high: 1.0}`` or ``{type: choice,
values: [4, 8, 16]}``; a plain list means ``choice``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from bench.core.config import MethodConfig, coerce
from bench.core.errors import BenchError

KINDS = ("log", "float", "int", "choice")


@dataclass(frozen=True)
class Param:
    """One searched config field."""

    name: str
    kind: Literal["log", "float", "int", "choice"]
    low: float | None = None
    high: float | None = None
    step: int | None = None
    choices: tuple[Any, ...] = ()
    integer: bool = False  # an int field: ranges suggest integers

    def suggest(self, trial: Any) -> Any:
        """The trial's value for this field (Optuna ``suggest_*``)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high)
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=self.step or 1,
                                     log=self.kind == "log")  # fmt: skip
        return trial.suggest_float(self.name, self.low, self.high, log=True)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a point of this space (used to enqueue the defaults as trial 0)."""
        if self.kind == "choice":
            return value in self.choices
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return self.low <= value <= self.high  # type: ignore[operator]

    def describe(self) -> str:
        if self.kind == "choice":
            return f"choice:{','.join(map(str, self.choices))}"
        return f"{self.kind}:{self.low}:{self.high}" + (f":{self.step}" if self.step else "")


@dataclass(frozen=True)
class SearchSpace:
    """The searched fields of one method's config."""

    params: tuple[Param, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {p.name: p.suggest(trial) for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """The search space of Optuna's GridSampler; only ``choice`` fields can be gridded."""
        ranged = [p.name for p in self.params if p.kind != "choice"]
        if ranged:
            raise BenchError(
                f"--sampler grid needs choice:... values for every field; {', '.join(ranged)} "
                "is a range (e.g. --param beta=choice:0.05,0.1,0.3)"
            )
        return {p.name: list(p.choices) for p in self.params}

    def defaults_inside(self, config: MethodConfig) -> dict[str, Any] | None:
        """The config's values of the searched fields if they all lie in the space, else None."""
        values = {name: getattr(config, name) for name in self.names}
        if all(p.contains(values[p.name]) for p in self.params):
            return values
        return None


def parse_params(pairs: list[str], config_cls: type[MethodConfig]) -> SearchSpace:
    """``["beta=log:0.01:1.0", "lora_r=choice:4,8,16"]`` -> a validated :class:`SearchSpace`."""
    specs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, spec = pair.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise BenchError(f"--param expects FIELD=KIND:..., e.g. beta=log:0.01:1.0; got {pair!r}")
        if name.strip() in specs:
            raise BenchError(f"--param {name.strip()!r} is given twice")
        specs[name.strip()] = spec.strip()
    return build_space(specs, config_cls, source="--param")


def load_space_file(path: Path, config_cls: type[MethodConfig]) -> SearchSpace:
    """A YAML mapping ``field: spec`` (see the module docstring)."""
    import yaml

    try:
        specs = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(f"search space file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise BenchError(f"search space file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(specs, dict) or not specs:
        raise BenchError(f"search space file {path} must be a non-empty mapping of field: spec")
    return build_space(specs, config_cls, source=str(path))


def build_space(specs: dict[str, Any], config_cls: type[MethodConfig], source: str) -> SearchSpace:
    if not specs:
        raise BenchError("empty search space: give --param FIELD=SPEC (repeatable) or --space FILE.yaml")
    hints = typing.get_type_hints(config_cls)
    fields = [f.name for f in dataclasses.fields(config_cls)]
    params = []
    for name, spec in specs.items():
        if name not in fields:
            raise BenchError(
                f"{source}: {config_cls.__name__} has no field {name!r} (fields: {', '.join(fields)})"
            )
        params.append(_param(str(name), spec, hints[name], source))
    for param in params:  # the space's extremes must be valid values (declared bounds), before any trial
        for value in param.choices if param.kind == "choice" else (param.low, param.high):
            try:
                config_cls(**{param.name: int(value) if param.integer and param.kind != "choice" else value})
            except BenchError as exc:
                raise BenchError(
                    f"{source}: {param.name}={param.describe()} reaches outside the field: {exc}"
                ) from None
    return SearchSpace(tuple(params))


def _param(name: str, spec: Any, field_type: Any, source: str) -> Param:
    where = f"{source}: {name}"
    if isinstance(spec, list):
        spec = {"type": "choice", "values": spec}
    if isinstance(spec, str):
        kind, _, rest = spec.partition(":")
        if kind == "choice":
            spec = {"type": kind, "values": [v.strip() for v in rest.split(",") if v.strip()]}
        else:
            parts = rest.split(":")
            if len(parts) not in (2, 3):
                raise BenchError(f"{where}: expected {kind}:LOW:HIGH, got {spec!r}")
            spec = {"type": kind, "low": parts[0], "high": parts[1]}
            if len(parts) == 3:
                spec["step"] = parts[2]
    if not isinstance(spec, dict) or spec.get("type") not in KINDS:
        raise BenchError(f"{where}: the kind must be one of {', '.join(KINDS)} (got {spec!r})")
    kind = spec["type"]
    if kind == "choice":
        values = spec.get("values") or []
        if not values:
            raise BenchError(f"{where}: choice needs at least one value")
        choices = tuple(coerce(v, field_type, name) for v in values)
        if len(set(map(repr, choices))) != len(choices):
            raise BenchError(f"{where}: repeated value in {list(values)}")
        return Param(name, "choice", choices=choices)
    base = _numeric_type(field_type)
    if base is None:
        raise BenchError(f"{where}: {kind} ranges need a numeric field; use choice:... for this one")
    if kind == "int" and base is not int:
        raise BenchError(f"{where}: int ranges need an integer field; use float: or log: for this one")
    if kind == "float" and base is int:
        raise BenchError(f"{where}: float ranges need a float field; use int: or log: for this one")
    try:
        low, high = _number(spec.get("low"), base), _number(spec.get("high"), base)
        step = int(spec["step"]) if spec.get("step") is not None else None
    except (TypeError, ValueError):
        raise BenchError(f"{where}: LOW and HIGH must be finite {base.__name__}s (got {spec!r})") from None
    if not low < high:
        raise BenchError(f"{where}: LOW must be below HIGH (got {low} and {high})")
    if kind == "log" and low <= 0:
        raise BenchError(f"{where}: a log range needs LOW > 0 (got {low})")
    if step is not None and (kind != "int" or step < 1):
        raise BenchError(f"{where}: STEP is for int ranges and must be positive")
    return Param(name, kind, low, high, step, integer=base is int)


def _number(value: Any, base: type) -> float | int:
    number = float(value)
    if not math.isfinite(number) or (base is int and not number.is_integer()):
        raise ValueError(value)
    return base(number)


def _numeric_type(tp: Any) -> type | None:
    if get_origin(tp) is not None and get_origin(tp) is not Literal:  # Optional[int] etc.
        args = [a for a in get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else None
    if tp is bool:
        return None
    return tp if tp in (int, float) else None
