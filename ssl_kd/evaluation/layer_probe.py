"""Per-layer linear probes on a frozen trunk: the self-supervised AlexNet protocol (docs/methods/alexnet_linear.md).

The protocol of the self-supervised AlexNet tables (Zhang et al., "Split-Brain Autoencoders", CVPR 2017; VISSL's
AlexNet linear benchmark; ReKD, arXiv 2112.04174 reports its conv5 figure): taps ``conv1`` .. ``conv5`` after their
ReLU, each average-pooled to a fixed grid (:data:`ALEXNET_GRIDS`: 96x10x10, 256x6x6, 384x5x5, 384x5x5, 256x6x6 =
9,600 / 9,216 / 9,600 / 9,600 / 9,216 dims at 224 px), then one head per layer, ``Linear(flatten(BN(pooled)))``,
all trained together on the frozen trunk with ``L = sum_l CE(head_l(tap_l), y)`` under SGD (momentum 0.9, weight
decay 5e-4, lr 0.01 per 256 images, x0.1 at epochs 8, 16, 24 of 28). Training images are augmented (Resize 256 +
RandomCrop 224 + flip), so the trunk runs every epoch instead of on cached features; test images are Resize 256 +
CenterCrop 224. Every head is scored on the test split (top-1, top-5) after the last epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.errors import ConfigError, DataError

ALEXNET_GRIDS: dict[str, int] = {"conv1": 10, "conv2": 6, "conv3": 5, "conv4": 5, "conv5": 6}
"""Tap -> side of the average-pooled map each head reads (the self-supervised AlexNet protocol)."""
REFERENCE_BATCH = 256


@dataclass(frozen=True)
class LayerProbeSettings:
    """Optimisation of the per-layer heads (defaults: the AlexNet protocol).

    Attributes:
        epochs: Passes over the augmented training split.
        lr: Learning rate per 256 images (scaled linearly with the batch size).
        milestones: Epochs after which the learning rate is multiplied by ``gamma``.
        gamma: Step decay factor.
        momentum: SGD momentum.
        weight_decay: L2 on the heads.
    """

    epochs: int = 28
    lr: float = 0.01
    milestones: tuple[int, ...] = (8, 16, 24)
    gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4


class LayerHeads(nn.Module):
    """One ``AdaptiveAvgPool(grid) -> BatchNorm2d -> flatten -> Linear`` head per tap."""

    def __init__(self, channels: Mapping[str, int], grids: Mapping[str, int], num_classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict(
            {
                tap: nn.Sequential(
                    nn.AdaptiveAvgPool2d(grids[tap]),
                    nn.BatchNorm2d(width),
                    nn.Flatten(1),
                    nn.Linear(width * grids[tap] ** 2, num_classes),
                )
                for tap, width in channels.items()
            }
        )

    def forward(self, taps: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Logits ``(B, num_classes)`` per tap."""
        return {tap: head(taps[tap]) for tap, head in self.heads.items()}


def _images_and_labels(batch: object) -> tuple[Tensor, Tensor]:
    inputs = getattr(batch, "inputs", batch)
    return inputs[0], inputs[1]


def train_layer_probes(
    trunk: nn.Module,
    train_batches: Iterable,
    sampler: ResumableBatchSampler,
    test_batches: Iterable,
    num_classes: int,
    settings: LayerProbeSettings,
    device: torch.device,
    grids: Mapping[str, int] = ALEXNET_GRIDS,
) -> dict[str, float]:
    """Train one head per tap of ``grids`` on the frozen ``trunk`` and score them on the test batches.

    Args:
        trunk: A backbone with ``forward_taps``; kept in eval mode, never updated.
        train_batches: The augmented training loader (``Batch`` or ``(images, labels, ...)`` items).
        sampler: Its batch sampler (``set_epoch`` each epoch; its batch size scales the learning rate).
        test_batches: The unaugmented test loader.
        num_classes: Number of classes.
        settings: Optimisation of the heads.
        device: Where the trunk and heads run.
        grids: Tap -> pooled side.

    Returns:
        ``<tap>_linear_top1`` and ``<tap>_linear_top5`` per tap, fractions in 0..1.

    Raises:
        ConfigError: The trunk has no such taps, or a tap is not a feature map.
        DataError: A loader yields no batch.
    """
    taps = list(grids)
    missing = [tap for tap in taps if tap not in trunk.tap_names]
    if missing:
        raise ConfigError(
            f"the layer probe reads taps {', '.join(taps)}; {getattr(trunk, 'arch', 'the model')} lacks "
            f"{', '.join(missing)} (its taps: {', '.join(trunk.tap_names)})"
        )
    trunk.to(device).eval().requires_grad_(False)
    heads: LayerHeads | None = None
    optimizer: torch.optim.Optimizer | None = None
    schedule: torch.optim.lr_scheduler.MultiStepLR | None = None
    for epoch in range(settings.epochs):
        sampler.set_epoch(epoch)
        for batch in train_batches:
            images, labels = _images_and_labels(batch)
            if labels.numel() == 0:  # every image of the batch was unreadable
                continue
            with torch.no_grad():
                maps = trunk.forward_taps(images.to(device, non_blocking=True), taps)
            if heads is None:
                heads, optimizer, schedule = _build_heads(maps, grids, num_classes, settings, sampler, device)
            logits = heads(maps)
            labels = labels.to(device, non_blocking=True)
            loss = torch.stack([F.cross_entropy(value.float(), labels) for value in logits.values()]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if schedule is not None:
            schedule.step()
    if heads is None:
        raise DataError("the layer probe's training loader yielded no images")
    return _score(trunk, heads, test_batches, taps, device)


def _build_heads(
    maps: Mapping[str, Tensor],
    grids: Mapping[str, int],
    num_classes: int,
    settings: LayerProbeSettings,
    sampler: ResumableBatchSampler,
    device: torch.device,
) -> tuple[LayerHeads, torch.optim.Optimizer, torch.optim.lr_scheduler.MultiStepLR]:
    flat = [tap for tap, value in maps.items() if value.ndim != 4]
    if flat:
        raise ConfigError(f"the layer probe pools feature maps; tap(s) {', '.join(flat)} are not (B, C, H, W)")
    heads = LayerHeads({tap: value.shape[1] for tap, value in maps.items()}, grids, num_classes).to(device)
    lr = settings.lr * sampler.batch_size / REFERENCE_BATCH
    optimizer = torch.optim.SGD(
        heads.parameters(), lr=lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(settings.milestones), settings.gamma)
    return heads, optimizer, schedule


@torch.no_grad()
def _score(
    trunk: nn.Module, heads: LayerHeads, test_batches: Iterable, taps: list[str], device: torch.device
) -> dict[str, float]:
    heads.eval()
    correct = {tap: torch.zeros(2, device=device) for tap in taps}  # top-1, top-5 counts, summed on the device
    seen = 0
    for batch in test_batches:
        images, labels = _images_and_labels(batch)
        if labels.numel() == 0:
            continue
        labels = labels.to(device, non_blocking=True)
        logits = heads(trunk.forward_taps(images.to(device, non_blocking=True), taps))
        for tap, value in logits.items():
            top = value.topk(min(5, value.shape[1]), dim=1).indices == labels[:, None]
            correct[tap] += torch.stack([top[:, 0].sum(), top.any(dim=1).sum()]).float()
        seen += labels.numel()
    if seen == 0:
        raise DataError("the layer probe's test loader yielded no images")
    metrics: dict[str, float] = {}
    for tap, counts in correct.items():
        top1, top5 = (counts / seen).tolist()
        metrics[f"{tap}_linear_top1"] = top1
        metrics[f"{tap}_linear_top5"] = top5
    return metrics
