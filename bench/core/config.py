"""Typed method configurations: dataclasses whose fields all have a default and a help text."""

from __future__ import annotations

import dataclasses
import math
import operator
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from bench.core.errors import BenchError
from bench.core.hashing import json_digest

C = TypeVar("C")


# range keywords of ``option``: (test, how the error message says it, how ``bench ls`` shows it)
BOUNDS: dict[str, tuple[Any, str, str]] = {
    "at_least": (operator.ge, "at least", ">="),
    "greater_than": (operator.gt, "greater than", ">"),
    "at_most": (operator.le, "at most", "<="),
    "less_than": (operator.lt, "less than", "<"),
}


def option(default: Any, help: str, *, keyed_only_if_changed: bool = False, **metadata: Any) -> Any:  # noqa: A002
    """A config field with a default and a help text (shown by ``bench ls``); numeric fields may carry
    bounds (``at_least=1``, ``greater_than=0``, ``at_most=1``, ``less_than=1``), checked on creation.

    ``keyed_only_if_changed=True`` leaves the field out of the config's identity (result and adapter keys)
    while it holds this default: a field added to a config after results exist does not orphan them."""
    if keyed_only_if_changed:
        metadata["unkeyed_value"] = default
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def _bounds_text(metadata: Any) -> str:
    return " and ".join(f"{sign} {metadata[key]}" for key, (_, _, sign) in BOUNDS.items() if key in metadata)


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Base class of every method's configuration."""

    def __post_init__(self) -> None:
        """Reject values outside a field's declared bounds (and non-finite numbers) before any work."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                raise BenchError(f"config field {f.name!r}: {value} is not a finite number")
            for key, (holds, words, _) in BOUNDS.items():
                if key in f.metadata and not holds(value, f.metadata[key]):
                    raise BenchError(f"config field {f.name!r}: {value} must be {words} {f.metadata[key]}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The fields that make a result's identity: all of them, except fields declared
        ``keyed_only_if_changed`` while they hold the value they were declared with."""
        values = self.to_dict()
        for f in dataclasses.fields(self):
            if "unkeyed_value" in f.metadata and values[f.name] == f.metadata["unkeyed_value"]:
                del values[f.name]
        return values

    def non_defaults(self) -> dict[str, Any]:
        """Fields that differ from the class defaults (used to label table rows)."""
        default = type(self)()
        return {k: v for k, v in self.to_dict().items() if getattr(default, k) != v}

    @classmethod
    def field_bounds(cls) -> dict[str, str]:
        """The declared bounds of each bounded field, as ``bench ls`` shows them (e.g. ``>= 1``)."""
        return {f.name: _bounds_text(f.metadata) for f in dataclasses.fields(cls) if _bounds_text(f.metadata)}

    @classmethod
    def describe_fields(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) for each field."""
        hints = typing.get_type_hints(cls)
        described = []
        for f in dataclasses.fields(cls):
            bounds = _bounds_text(f.metadata)
            text = f.metadata.get("help", "") + (f" ({bounds})" if bounds else "")
            described.append((f.name, _type_name(hints[f.name]), f.default, text))
        return described


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "|".join(str(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def config_hash(method: str, config: MethodConfig) -> str:
    """A stable short hash of (method name, config), used in result and cache paths."""
    return json_digest({"method": method, "config": config.identity()}, length=10)


def coerce(value: Any, tp: Any, field: str) -> Any:
    """Convert a (string) value to the field's declared type, with a one-line error on failure."""
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        for choice in choices:
            if value == choice or str(value) == str(choice):
                return choice
        raise BenchError(f"config field {field!r}: {value!r} is not one of {', '.join(map(str, choices))}")
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None or str(value).lower() == "none":
            return None
        return coerce(value, args[0], field)
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp in (int, float, str):
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
    except (TypeError, ValueError):
        raise BenchError(f"config field {field!r}: {value!r} is not a valid {_type_name(tp)}") from None
    return value


def build_config(cls: type[C], overrides: dict[str, Any]) -> C:
    """``cls`` with ``overrides`` applied; unknown fields and bad values raise :class:`BenchError`."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values = {}
    for key, value in overrides.items():
        if key not in names:
            raise BenchError(f"{cls.__name__} has no field {key!r} (fields: {', '.join(names)})")
        values[key] = coerce(value, hints[key], key)
    return cls(**values)
