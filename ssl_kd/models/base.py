"""The common backbone interface: a classifier split into named, tappable blocks."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ssl_kd.errors import ConfigError, did_you_mean
from ssl_kd.registry import MODELS

FEATURES = "features"
LOGITS = "logits"


class BackboneModel(nn.Module):
    """A classifier split into named blocks so that any intermediate output can be tapped.

    ``blocks`` are applied in order to the image, ``pool`` turns the last block's output into the
    penultimate feature vector ``(B, feature_dim)`` and ``classifier`` maps it to logits (an
    ``nn.Identity`` when ``num_classes == 0``, so logits are the features).

    Weights and inputs use the channels-last memory format (3x faster training for the MobileNets'
    depthwise convs on CPU), so 4-d taps are channels-last: use ``reshape``/``flatten``, not ``view``.

    Attributes:
        arch: Registry key the model was built from (set by ``build_model``).
        options: Builder options, defaults included (set by ``build_model``).
        feature_dim: Width of the penultimate features.
        num_classes: Number of logits; 0 for a headless backbone.
    """

    memory_format: torch.memory_format = torch.channels_last
    """Layout of weights and inputs; video models (5-d) use ``torch.channels_last_3d``."""

    def __init__(self, blocks: Mapping[str, nn.Module], pool: nn.Module, feature_dim: int, num_classes: int) -> None:
        """Assemble the model (``arch`` and ``options`` stay empty until ``build_model`` sets them).

        Args:
            blocks: Ordered name -> module stages applied in sequence to the image.
            pool: Module turning the last block's output into ``(B, feature_dim)`` features.
            feature_dim: Width of the features ``pool`` produces.
            num_classes: Number of classes; 0 gives an identity classifier.
        """
        super().__init__()
        reserved = {FEATURES, LOGITS} & set(blocks)
        if reserved:
            raise ValueError(f"block names {sorted(reserved)} are reserved for taps")
        self.blocks = nn.ModuleDict(blocks)
        self.pool = pool
        self.classifier: nn.Module = nn.Linear(feature_dim, num_classes) if num_classes else nn.Identity()
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.arch = ""
        self.options: dict[str, Any] = {}
        self.to(memory_format=self.memory_format)

    @property
    def tap_names(self) -> tuple[str, ...]:
        """Every block name in forward order, then ``"features"`` and ``"logits"``."""
        return (*self.blocks.keys(), FEATURES, LOGITS)

    def forward_features(self, x: Tensor) -> Tensor:
        """Penultimate features ``(B, feature_dim)``."""
        return self.forward_taps(x, (FEATURES,))[FEATURES]

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` (the features when ``num_classes == 0``)."""
        return self.classifier(self.forward_features(x))

    def forward_taps(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """Outputs of the named taps, running the network only as far as the deepest one.

        Raises:
            ConfigError: A name is not in ``tap_names``.
        """
        self._check_taps(names)
        wanted = set(names)
        last = max((self.tap_names.index(name) for name in wanted), default=-1)
        taps: dict[str, Tensor] = {}
        x = x.contiguous(memory_format=self.memory_format)
        for block_name, block in list(self.blocks.items())[: last + 1]:
            x = block(x)
            if block_name in wanted:
                taps[block_name] = x
        if last >= len(self.blocks):
            taps[FEATURES] = x = self.pool(x)
        if LOGITS in wanted:
            taps[LOGITS] = self.classifier(x)
        return {name: taps[name] for name in names}

    def _check_taps(self, names: Sequence[str]) -> None:
        """Raise ConfigError naming the nearest valid tap for the first unknown name."""
        valid = self.tap_names
        for name in names:
            if name not in valid:
                raise ConfigError(
                    f"unknown tap {name!r} for {self.arch or 'model'}{did_you_mean(name, valid)}; "
                    f"valid taps: {', '.join(valid)}"
                )

    def spec(self) -> dict[str, Any]:
        """``{"arch", "num_classes", "options"}``: enough to rebuild with ``build_model(**spec)``."""
        return {"arch": self.arch, "num_classes": self.num_classes, "options": dict(self.options)}


FAMILY_SEPARATOR = ":"
"""``family:name`` archs (``timm:resnet18``) pass ``name`` to the family's registered builder."""


def split_arch(arch: str) -> tuple[str, str | None]:
    """``("timm", "resnet18")`` for ``timm:resnet18``; ``(arch, None)`` for a plain registry key."""
    family, separator, name = arch.partition(FAMILY_SEPARATOR)
    return (family, name) if separator else (arch, None)


def check_arch(arch: str) -> None:
    """Check that ``arch`` names a registered model, or a model of a registered family (``timm:<name>``).

    Raises:
        ConfigError: Unknown key; a family without a name; a name the family does not know (nearest names given).
    """
    family, name = split_arch(arch)
    builder = MODELS.get(family)
    check_name = getattr(builder, "check_name", None)
    if name is None and check_name is not None:
        raise ConfigError(f"model {family!r} is a family: give a name, e.g. arch: {family}{FAMILY_SEPARATOR}resnet18")
    if name is not None:
        if check_name is None:
            raise ConfigError(f"model {family!r} takes no {FAMILY_SEPARATOR}name (arch {arch!r})")
        check_name(name)


def build_model(arch: str, num_classes: int, options: Mapping[str, Any] | None = None, **kwargs: Any) -> BackboneModel:
    """Build the registered ``arch`` (or ``family:name``) from scratch (no pretrained weights).

    Options may be given as a mapping (the ``spec()`` form), as keywords, or both.

    Raises:
        ConfigError: Unknown arch, or an option the arch's builder does not take.
    """
    check_arch(arch)
    family, name = split_arch(arch)
    builder = MODELS.get(family)
    resolved = _resolve_options(arch, builder, num_classes, {**(options or {}), **kwargs})
    model = builder(num_classes=num_classes, **resolved) if name is None else builder(name, num_classes, **resolved)
    model.arch, model.options = arch, resolved
    return model


def build_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """Rebuild a saved model from its ``spec()``: a backbone's spec names its ``num_classes``; other domains' models
    (e.g. KG embeddings) are registered classes built from their ``options`` alone."""
    if "num_classes" in spec:
        return build_model(**spec)
    return MODELS.get(spec["arch"])(**spec["options"])


def _resolve_options(
    arch: str, builder: Callable[..., BackboneModel], num_classes: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Check ``options`` against the builder's signature and fill in the defaults."""
    params = inspect.signature(builder).parameters
    valid = [name for name in params if name not in RESERVED_PARAMETERS]
    for name in options:
        if name not in valid:
            raise ConfigError(
                f"unknown option {name!r} for model {arch!r}{did_you_mean(name, valid)}; "
                f"valid options: {', '.join(valid) or '(none)'}"
            )
    named = {"name": ""} if "name" in params else {}
    bound = inspect.signature(builder).bind(num_classes=num_classes, **named, **options)
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items() if name not in RESERVED_PARAMETERS}


RESERVED_PARAMETERS = ("num_classes", "name")
"""Builder parameters that are not options: the class count, and a family's model name."""
