"""Name -> component registries. Configs refer to components only by these keys.

A new model, method, dataset or stage kind is one module that registers itself here::

    @MODELS.register("alexnet_small")
    def alexnet_small(num_classes: int, **options) -> BackboneModel: ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ssl_kd.errors import ConfigError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping from string keys to components, with helpful lookup errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, key: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``key``; a key can be registered once."""

        def add(obj: T) -> T:
            if key in self._items:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._items[key] = obj
            return obj

        return add

    def get(self, key: str) -> T:
        """Look ``key`` up; an unknown key raises ConfigError naming the nearest valid key."""
        if key not in self._items:
            raise ConfigError(
                f"unknown {self.kind} {key!r}{did_you_mean(key, self._items)}; known: {', '.join(sorted(self._items))}"
            )
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())


MODELS: Registry[Callable] = Registry("model")
DATASETS: Registry[Callable] = Registry("dataset")
METHODS: Registry[type] = Registry("method")
STAGES: Registry[type] = Registry("stage kind")


def load_builtins() -> None:
    """Import the built-in components so that they register themselves."""
    import ssl_kd.data
    import ssl_kd.methods
    import ssl_kd.models
    import ssl_kd.stages  # noqa: F401
