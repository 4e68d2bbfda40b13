"""Name -> component registries. Configs refer to components only by these keys.

A leaf module: it imports nothing of ssl_kd but the errors. A new model, method, dataset, stage kind or domain is
one module that registers itself here with the registry's ``register`` decorator (or a thin wrapper of it that
adds the component's metadata, such as ``register_dataset``)::

    @MODELS.register("alexnet_small")
    def alexnet_small(num_classes: int, **options) -> BackboneModel: ...

``ssl_kd.builtins.load()`` imports the built-in packages so that they register themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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
DOMAINS: Registry[object] = Registry("domain")


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its builder, whether it needs ``data.root``, and its domain."""

    build: Callable[..., Any]
    requires_root: bool
    domain: str = "image_classification"

    @property
    def video(self) -> bool:
        return self.domain == "video_classification"


def register_dataset(
    key: str, requires_root: bool, video: bool = False, domain: str | None = None
) -> Callable[[Callable], Callable]:
    """Register a dataset builder under ``key``.

    Image datasets: ``build(root, image_size) -> ImageSplits``; a video dataset's builder (``video=True``) also
    receives the whole ``DataConfig`` as ``data`` (format, split, clip options). Other domains name theirs
    (``domain="link_prediction"``) and define the builder's signature themselves.
    """
    entry_domain = domain or ("video_classification" if video else "image_classification")

    def add(build: Callable[..., Any]) -> Callable[..., Any]:
        DATASETS.register(key)(DatasetEntry(build=build, requires_root=requires_root, domain=entry_domain))
        return build

    return add
