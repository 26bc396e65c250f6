"""One registry pattern for datasets, models, surrogates, noise kinds and more.

Small decorated factory functions register under a name with optional metadata::

    MODELS = Registry("model")

    @MODELS.register("mlp", family="mlp")
    def mlp(**kw): ...

    MODELS.create("mlp", depth=2)

A miss raises :class:`~snnbench.errors.UnknownNameError` listing the valid names with a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from snnbench.errors import UnknownNameError, unknown_name_hint

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = Entry(name, obj, dict(meta))
            return obj

        return decorator

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'", hint=unknown_name_hint(name, self._entries)
            ) from None

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())
