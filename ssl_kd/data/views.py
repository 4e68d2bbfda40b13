"""Two-view augmentations for self-supervised methods, built with ``torchvision.transforms.v2``.

Two presets, parameterised by :class:`ViewsConfig`:

- ``natural``: the SimCLR / MoCo v2 recipe (random resized crop, horizontal flip, colour jitter 0.4/0.4/0.4/0.1 with
  p = 0.8, grayscale p = 0.2, Gaussian blur p = 0.5), with the crop scale and blur kernel sized for small images.
- ``digits``: for small grayscale glyphs, where flips and colour changes destroy or carry no information: a gentle
  resized crop, a random affine warp (rotation, translation, shear), an elastic warp and light pixel noise. This
  recipe took a SimCLR ResNet-18 from below the random-init floor to above it on digits (docs/methods/simclr.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import Field
from torchvision.transforms import v2

from ssl_kd.config.schema import Strict


class ViewsConfig(Strict):
    """Augmentation of each view. Unused fields of the other preset are ignored."""

    preset: Literal["digits", "natural"] = "digits"
    crop_scale: tuple[float, float] = Field((0.6, 1.0), description="random resized crop area range")
    flip_p: float = Field(0.5, ge=0, le=1, description="natural: horizontal flip probability")
    jitter: float = Field(0.4, ge=0, description="natural: colour-jitter strength")
    jitter_p: float = Field(0.8, ge=0, le=1)
    grayscale_p: float = Field(0.2, ge=0, le=1)
    blur_p: float = Field(0.5, ge=0, le=1)
    rotation: float = Field(12.0, ge=0, description="digits: max rotation in degrees")
    translate: float = Field(0.1, ge=0, le=1, description="digits: max shift as a fraction of the size")
    shear: float = Field(8.0, ge=0, description="digits: max shear in degrees")
    elastic_p: float = Field(0.5, ge=0, le=1, description="digits: probability of an elastic warp")
    elastic_alpha: float = Field(15.0, ge=0)
    noise_std: float = Field(0.05, ge=0, description="digits: Gaussian pixel noise (0..1 units)")


class TwoViews:
    """Apply ``transform`` twice to the same image: ``image -> (view_1, view_2)``."""

    def __init__(self, transform: v2.Transform) -> None:
        self.transform = transform

    def __call__(self, image: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(image), self.transform(image)

    def __repr__(self) -> str:
        return f"TwoViews({self.transform})"


def _natural(cfg: ViewsConfig, image_size: int) -> list[v2.Transform]:
    kernel = max(3, (image_size // 10) | 1)
    strength = cfg.jitter
    return [
        v2.RandomResizedCrop(image_size, scale=cfg.crop_scale, antialias=True),
        v2.RandomHorizontalFlip(cfg.flip_p),
        v2.RandomApply([v2.ColorJitter(strength, strength, strength, strength / 4)], p=cfg.jitter_p),
        v2.RandomGrayscale(cfg.grayscale_p),
        v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=cfg.blur_p),
        v2.ToDtype(torch.float32, scale=True),
    ]


def _digits(cfg: ViewsConfig, image_size: int) -> list[v2.Transform]:
    return [
        v2.RandomResizedCrop(image_size, scale=cfg.crop_scale, ratio=(0.85, 1.18), antialias=True),
        v2.RandomAffine(degrees=cfg.rotation, translate=(cfg.translate, cfg.translate), shear=cfg.shear),
        v2.RandomApply([v2.ElasticTransform(alpha=cfg.elastic_alpha, sigma=3.0)], p=cfg.elastic_p),
        v2.ToDtype(torch.float32, scale=True),
        v2.GaussianNoise(sigma=cfg.noise_std, clip=True),
    ]


def view_transform(cfg: ViewsConfig, image_size: int, mean: Sequence[float], std: Sequence[float]) -> v2.Transform:
    """One random view: the preset's augmentations, then normalisation."""
    steps = _digits(cfg, image_size) if cfg.preset == "digits" else _natural(cfg, image_size)
    return v2.Compose([v2.ToImage(), *steps, v2.Normalize(list(mean), list(std))])


def two_views(cfg: ViewsConfig, image_size: int, mean: Sequence[float], std: Sequence[float]) -> TwoViews:
    """The two-view transform of self-supervised methods."""
    return TwoViews(view_transform(cfg, image_size, mean, std))
