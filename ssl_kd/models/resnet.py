"""ResNet-18/50 (torchvision, from scratch) with a choice of stem for small inputs.

Blocks: ``stem``, ``layer1`` .. ``layer4``; pool: global average pool; features: 512 (18) / 2048 (50).

Stems (``layer1`` spatial size at 32x32 input in brackets):

* ``imagenet``: 7x7 stride-2 conv + 3x3 stride-2 max-pool (8x8). The default, for speed.
* ``small``: 3x3 stride-1 conv + max-pool (16x16); ~3x slower, for richer 32x32 images.
* ``cifar``: 3x3 stride-1 conv, no max-pool (32x32); ~11x slower.

Measured at 32x32, batch 128, float32, 2 CPU threads (img/s; train = fwd+bwd+SGD step), and test
accuracy on sklearn digits upscaled to 32x32 (1,347 train images, 15 epochs)::

    arch      stem      train   eval   digits acc
    resnet18  imagenet    689   2575   0.989
    resnet18  small       216    716   0.989
    resnet18  cifar        61    203   -
    resnet50  imagenet    213    789   -
    resnet50  small        78    267   -
"""

from __future__ import annotations

from typing import Literal

from torch import nn
from torchvision.models import resnet

from ssl_kd.errors import ConfigError
from ssl_kd.models.base import BackboneModel
from ssl_kd.registry import MODELS

Stem = Literal["imagenet", "small", "cifar"]
STEMS: tuple[str, ...] = ("imagenet", "small", "cifar")


def _stem(net: resnet.ResNet, stem: Stem, in_channels: int) -> nn.Sequential:
    """The conv/bn/relu(/max-pool) stem for ``stem``."""
    if stem not in STEMS:
        raise ConfigError(f"unknown resnet stem {stem!r}; valid stems: {', '.join(STEMS)}")
    if stem == "imagenet":
        conv = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        conv = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    layers = [conv, net.bn1, net.relu]
    if stem != "cifar":
        layers.append(net.maxpool)
    return nn.Sequential(*layers)


def _wrap(net: resnet.ResNet, stem: Stem, in_channels: int, num_classes: int) -> BackboneModel:
    """Split a torchvision ResNet into stem / layer1..layer4 blocks."""
    blocks = {"stem": _stem(net, stem, in_channels)}
    blocks.update({f"layer{i}": getattr(net, f"layer{i}") for i in range(1, 5)})
    pool = nn.Sequential(net.avgpool, nn.Flatten(1))
    return BackboneModel(blocks, pool, net.fc.in_features, num_classes)


@MODELS.register("resnet18")
def resnet18(num_classes: int, stem: Stem = "imagenet", in_channels: int = 3) -> BackboneModel:
    """ResNet-18 (512-d features)."""
    return _wrap(resnet.resnet18(weights=None), stem, in_channels, num_classes)


@MODELS.register("resnet50")
def resnet50(num_classes: int, stem: Stem = "imagenet", in_channels: int = 3) -> BackboneModel:
    """ResNet-50 (2048-d features)."""
    return _wrap(resnet.resnet50(weights=None), stem, in_channels, num_classes)
