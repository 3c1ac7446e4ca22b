"""A typed, lazy name -> object registry with "did you mean" errors and entry-point plug-ins.

Entries are either objects, ``"module:attr"`` strings or :class:`Lazy` factories, resolved (and
type-checked) on first use, so listing what exists imports no model code. An entry may carry light
attributes, also strings or factories (e.g. a method's config class), that resolve without resolving the
entry itself.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from bench.core.errors import BenchError

T = TypeVar("T")


def resolve_target(target: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"registry target {target!r} is not 'module:attr'")
    return getattr(importlib.import_module(module_name), attr)


@dataclass(frozen=True)
class Lazy:
    """An entry (or attribute) made by calling ``factory`` when first asked for (e.g. a preset's class)."""

    factory: Callable[[], Any]


def _is_pending(value: Any) -> bool:
    return isinstance(value, (str, Lazy))


def _resolve(value: Any) -> Any:
    return value.factory() if isinstance(value, Lazy) else resolve_target(value)


@dataclass
class _Entry:
    target: Any  # the object, or a "module:attr" string / Lazy factory not yet resolved
    attributes: dict[str, Any] = field(default_factory=dict)  # name -> object, "module:attr" or Lazy


class Registry(Generic[T]):
    """Maps names to objects of type ``T`` (classes checked with issubclass, instances with isinstance).

    ``builtins`` names a module whose import registers the built-in entries; it is imported on first
    use, as are the plug-ins of ``entry_point_group``.
    """

    def __init__(
        self,
        kind: str,
        base: type,
        entry_point_group: str | None = None,
        builtins: str | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self.builtins = builtins
        self._entries: dict[str, _Entry] = {}
        self._loaded = False

    def register(self, obj: T) -> T:
        """Decorator (or call) registering ``obj`` under its own ``name`` attribute."""
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(f"a registered {self.kind} needs a non-empty string attribute 'name'")
        self._add(name, _Entry(self._checked(name, obj)))
        return obj

    def register_lazy(self, name: str, target: str | Lazy, **attributes: str | Lazy) -> None:
        """Register ``"module:attr"`` (or a :class:`Lazy` factory) under ``name``; it is imported (or
        made) when first asked for."""
        self._add(name, _Entry(target, dict(attributes)))

    def _add(self, name: str, entry: _Entry) -> None:
        existing = self._entries.get(name)
        if existing is not None and not self._same(existing, entry):
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if existing is not None and not _is_pending(existing.target):
            return  # already resolved to this very object
        self._entries[name] = entry

    @staticmethod
    def _same(a: _Entry, b: _Entry) -> bool:
        if a.target is b.target or a.target == b.target:
            return True
        # a lazy entry and the object it names (registered when its module is imported) agree
        lazy, obj = (a.target, b.target) if isinstance(a.target, str) else (b.target, a.target)
        if not isinstance(lazy, str) or isinstance(obj, str):
            return False
        module_name, _, attr = lazy.partition(":")
        return getattr(obj, "__module__", None) == module_name and getattr(obj, "__qualname__", "") == attr

    def _checked(self, name: str, obj: Any) -> Any:
        ok = isinstance(obj, self.base) or (isinstance(obj, type) and issubclass(obj, self.base))
        if not ok:
            raise TypeError(f"{self.kind} {name!r}: {obj!r} is not a {self.base.__name__}")
        return obj

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.builtins:
            importlib.import_module(self.builtins)
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                if ep.name not in self._entries:
                    self._entries[ep.name] = _Entry(ep.value)

    def _entry(self, name: str) -> _Entry:
        self._load()
        if name in self._entries:
            return self._entries[name]
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise BenchError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})")

    def get(self, name: str) -> T:
        """The entry for ``name`` (imported on first use), or a one-line error with close matches."""
        entry = self._entry(name)
        if _is_pending(entry.target):
            entry.target = self._checked(name, _resolve(entry.target))
        return entry.target

    def attribute(self, name: str, attribute: str, default: Any = None) -> Any:
        """A light attribute of an entry (resolved on its own), else the resolved entry's attribute."""
        entry = self._entry(name)
        value = entry.attributes.get(attribute)
        if _is_pending(value):
            value = entry.attributes[attribute] = _resolve(value)
        if value is not None:
            return value
        return getattr(self.get(name), attribute, default)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, object) for every entry; resolves all of them."""
        for name in self.names():
            yield name, self.get(name)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries
