"""Presets: a registered method under a new name with other config defaults, made without new code.

``derive_config`` gives a config class whose listed fields have new defaults (so ``bench ls`` shows them,
row labels name only what differs from the preset, and results are keyed by the preset's name);
``derive_method`` gives the method class that uses it.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any, TypeVar

from bench.core.config import MethodConfig, coerce
from bench.core.method import Method

C = TypeVar("C", bound=MethodConfig)


def _class_name(preset: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"\W+", preset) if part) + suffix


def derive_config(base: type[C], preset: str, defaults: dict[str, Any], description: str) -> type[C]:
    """A subclass of ``base`` in which each field of ``defaults`` defaults to that value instead.

    The values are converted and checked like ``--set`` values; an unknown field or a value the config
    rejects raises at once (a preset is code, so its mistakes should surface on first use)."""
    hints = typing.get_type_hints(base)
    fields = {f.name: f for f in dataclasses.fields(base)}
    unknown = sorted(set(defaults) - set(fields))
    if unknown:
        raise ValueError(f"preset {preset!r}: {base.__name__} has no field(s) {', '.join(unknown)}")
    redeclared = []
    for name, value in defaults.items():
        field = dataclasses.field(default=coerce(value, hints[name], name), metadata=fields[name].metadata)
        redeclared.append((name, hints[name], field))
    derived = dataclasses.make_dataclass(
        _class_name(preset, "Config"), redeclared, bases=(base,), frozen=True,
        namespace={"__doc__": description},
    )  # fmt: skip
    derived.__module__ = base.__module__
    derived()  # the preset's own defaults must pass the config's checks
    return derived


M = TypeVar("M", bound=Method)


def derive_method(base: type[M], preset: str, config: type[MethodConfig]) -> type[M]:
    """A subclass of ``base`` registered as ``preset``, configured by ``config`` (see derive_config)."""
    # preset_of: the registered method underneath (e.g. where a trained preset's adapter is cached)
    namespace = {"name": preset, "Config": config, "__module__": base.__module__,
                 "preset_of": getattr(base, "preset_of", base.name)}  # fmt: skip
    return type(_class_name(preset, ""), (base,), namespace)
