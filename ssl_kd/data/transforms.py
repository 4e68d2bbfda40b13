"""Per-sample image transforms built with ``torchvision.transforms.v2``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

AUGMENT_LEVELS = ("none", "light", "standard")


def eval_transform(image_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Transform:
    """Resize (shorter side) + centre crop + float conversion + normalisation."""
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(image_size, antialias=True),
            v2.CenterCrop(image_size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )


def train_transform(image_size: int, mean: Sequence[float], std: Sequence[float], augment: str) -> v2.Transform:
    """Training transform.

    Args:
        image_size: output side length.
        mean: per-channel normalisation mean.
        std: per-channel normalisation std.
        augment: ``none`` (as eval), ``light`` (small affine jitter: +-10 degrees, 10% shift, 0.9-1.1 scale;
            suits digits, where flips change meaning) or ``standard`` (random resized crop 0.35-1 + horizontal
            flip; suits photos).
    """
    if augment == "none":
        return eval_transform(image_size, mean, std)
    if augment == "light":
        geometric = [
            v2.Resize(image_size, antialias=True),
            v2.CenterCrop(image_size),
            v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        ]
    elif augment == "standard":
        geometric = [
            v2.RandomResizedCrop(image_size, scale=(0.35, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    else:
        raise ValueError(f"augment must be one of {AUGMENT_LEVELS}, got {augment!r}")
    return v2.Compose(
        [
            v2.ToImage(),
            *geometric,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )


RESIZE_RATIO = 256 / 224
"""Shorter side before cropping, relative to the crop (ImageNet's Resize 256 + crop 224)."""


def resize_crop_transform(image_size: int, mean: Sequence[float], std: Sequence[float], train: bool) -> v2.Transform:
    """ImageNet-style probe transform: shorter side to ``image_size * 256 / 224``, then a ``image_size`` crop.

    ``train``: RandomCrop + horizontal flip (Resize 256 + RandomCrop 224 + flip at 224 px); otherwise CenterCrop.
    """
    crop = [v2.RandomCrop(image_size), v2.RandomHorizontalFlip()] if train else [v2.CenterCrop(image_size)]
    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(round(image_size * RESIZE_RATIO), antialias=True),
            *crop,
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )
