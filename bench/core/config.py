"""Typed method configurations: dataclasses whose fields all have a default and a help text."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from bench.core.errors import BenchError
from bench.core.hashing import json_digest

C = TypeVar("C")


def option(default: Any, help: str, **metadata: Any) -> Any:  # noqa: A002 - mirrors argparse
    """A config field with a default and a help text (shown by ``bench ls``)."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Base class of every method's configuration."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def non_defaults(self) -> dict[str, Any]:
        """Fields that differ from the class defaults (used to label table rows)."""
        default = type(self)()
        return {k: v for k, v in self.to_dict().items() if getattr(default, k) != v}

    @classmethod
    def describe_fields(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) for each field."""
        hints = typing.get_type_hints(cls)
        return [
            (f.name, _type_name(hints[f.name]), f.default, f.metadata.get("help", ""))
            for f in dataclasses.fields(cls)
        ]


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "|".join(str(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def config_hash(method: str, config: MethodConfig) -> str:
    """A stable short hash of (method name, config), used in result and cache paths."""
    return json_digest({"method": method, "config": config.to_dict()}, length=10)


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
