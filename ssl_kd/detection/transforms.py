"""Detection augmentation with ``torchvision.transforms.v2``: boxes move with the image (``tv_tensors.BoundingBoxes``).

``standard`` (training): a small random affine (scale 0.85..1.15, translation up to 8% of the side, no rotation or
shear), brightness / contrast jitter and Gaussian pixel noise; boxes that leave the image are clipped, and boxes
left under 2 px dropped with their labels. No horizontal flip: a mirrored digit is another glyph (a mirrored 2 is no
2), and mirrored text would teach COCO models nothing useful either. The image size never changes, so a teacher and
a student see the same pixels. ``none``: the image as it is. Evaluation never augments.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

Augment = Literal["none", "standard"]
MIN_BOX_SIDE = 2.0
"""Boxes narrower or lower than this (pixels) after augmentation are dropped."""


def detection_transform(augment: Augment) -> v2.Transform:
    """The training transform of ``augment`` over ``{"image", "boxes", "labels"}`` (uint8 image in, float out)."""
    steps: list[v2.Transform] = [v2.ToDtype(torch.float32, scale=True)]
    if augment == "standard":
        steps += [
            v2.RandomAffine(degrees=0.0, translate=(0.08, 0.08), scale=(0.85, 1.15)),
            v2.ColorJitter(brightness=0.3, contrast=0.3),
            v2.GaussianNoise(sigma=0.03, clip=True),
            v2.ClampBoundingBoxes(),
            v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIDE),
        ]
    return v2.Compose(steps)


def apply(transform: v2.Transform, image: Tensor, boxes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``transform`` over one ``(3, S, S)`` uint8 image and its xyxy boxes; returns float image, boxes, labels."""
    size = tuple(image.shape[-2:])
    sample = {
        "image": tv_tensors.Image(image),
        "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=size),
        "labels": labels,
    }
    out = transform(sample)
    return out["image"].as_subclass(Tensor), out["boxes"].as_subclass(Tensor), out["labels"]
