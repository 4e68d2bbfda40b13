"""Any timm model as a backbone: ``arch: timm:<name>`` (timm's own names, e.g. ``timm:convnext_atto``).

The model is built offline (``timm.create_model(name, pretrained=False, num_classes=0)``; nothing is downloaded;
pretrained weights come from a local file through the spec's ``weights:``, see :mod:`ssl_kd.models.weights`). It has
the interface of the built-in backbones: ``features`` is timm's pooled pre-logits vector (``forward_head(...,
pre_logits=True)``, ``head_hidden_size`` wide), ``logits`` this library's linear ``classifier`` on it, and the other
taps are the modules timm's ``feature_info`` lists (ResNets: ``act1``, ``layer1`` .. ``layer4``; MobileNetV4:
``bn1``, ``blocks.0`` ..), read with forward hooks, so probes, hints, export and every method work on it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ssl_kd.errors import ConfigError
from ssl_kd.models.base import FEATURES, LOGITS, BackboneModel
from ssl_kd.registry import MODELS

FAMILY = "timm"


class TimmBackbone(BackboneModel):
    """A timm model (``net``, headless) with named taps, the pooled pre-logits ``features`` and a ``classifier``.

    Attributes:
        net: The timm model built with ``num_classes=0``.
        feature_modules: Names of the tappable modules of ``net`` (timm's ``feature_info``), in forward order.
        source_prefixes: How a timm checkpoint's names map onto this model's (``ssl_kd.models.weights``): timm's
            classifier (``fc``, ``head.fc``, ``classifier`` ...) is ``classifier``, everything else is under ``net``.
    """

    def __init__(self, net: nn.Module, num_classes: int) -> None:
        feature_dim = int(getattr(net, "head_hidden_size", None) or net.num_features)
        super().__init__({}, nn.Identity(), feature_dim, num_classes)
        self.net = net
        self.feature_modules: tuple[str, ...] = tuple(info["module"] for info in net.feature_info)
        classifier = net.pretrained_cfg.get("classifier") or "fc"
        self.source_prefixes: tuple[tuple[str, str], ...] = ((f"{classifier}.", "classifier."), ("", "net."))
        self.to(memory_format=self.memory_format)

    @property
    def tap_names(self) -> tuple[str, ...]:
        """timm's feature modules in forward order, then ``"features"`` and ``"logits"``."""
        return (*self.feature_modules, FEATURES, LOGITS)

    def forward_taps(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """Outputs of the named taps (one forward pass; module taps through temporary forward hooks).

        Raises:
            ConfigError: A name is not in ``tap_names``.
        """
        self._check_taps(names)
        taps: dict[str, Tensor] = {}
        hooks = [
            self.net.get_submodule(name).register_forward_hook(_keeper(taps, name))
            for name in self.feature_modules
            if name in names
        ]
        try:
            x = self.net.forward_features(x.contiguous(memory_format=self.memory_format))
            if FEATURES in names or LOGITS in names:
                taps[FEATURES] = self.net.forward_head(x, pre_logits=True)
        finally:
            for hook in hooks:
                hook.remove()
        if LOGITS in names:
            taps[LOGITS] = self.classifier(taps[FEATURES])
        return {name: taps[name] for name in names}


def _keeper(taps: dict[str, Tensor], name: str) -> Any:
    def keep(module: nn.Module, args: Any, output: Tensor) -> None:
        taps[name] = output

    return keep


def check_timm_name(name: str) -> None:
    """Raise ConfigError for a name timm does not know, with the nearest names."""
    import timm  # imported on first use: a second or more, and only timm archs need it

    if not timm.is_model(name):
        near = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f" (nearest: {', '.join(near)})" if near else ""
        raise ConfigError(f"unknown timm model {name!r}{hint}; list them with timm.list_models()")


@MODELS.register(FAMILY)
def timm_model(name: str, num_classes: int, in_channels: int = 3, img_size: int | None = None) -> TimmBackbone:
    """Any timm model, built offline: arch timm:<name> (e.g. timm:resnet18, timm:mobilenetv4_conv_small).

    Args:
        name: timm's model name.
        num_classes: Classes of this library's classifier on the pre-logits (0: headless).
        in_channels: Input channels (timm's ``in_chans``).
        img_size: Input size for models built for one (ViTs); None: timm's default.
    """
    import timm

    check_timm_name(name)
    size = {} if img_size is None else {"img_size": img_size}
    try:
        net = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels, **size)
    except TypeError as err:  # an option the model does not take, e.g. img_size for a CNN
        raise ConfigError(f"timm model {name!r}: {err}") from err
    return TimmBackbone(net, num_classes)


timm_model.check_name = check_timm_name  # type: ignore[attr-defined]  # marks a family (models.base.check_arch)
