"""What every image dataset builder returns (builders register with :func:`ssl_kd.registry.register_dataset`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ssl_kd.losses.labelled_ce import UNLABELLED as UNLABELLED  # re-exported; owned by the loss it is ignored by
from ssl_kd.registry import DatasetEntry, register_dataset

__all__ = [
    "UNLABELLED",
    "DatasetEntry",
    "ImageSource",
    "ImageSplits",
    "TensorImages",
    "channel_stats",
    "register_dataset",
]


class ImageSource(Protocol):
    """An indexable set of raw images: ``source[i] -> (image, label)``.

    ``image`` is a uint8 ``(C, H, W)`` tensor or a file path (decoded lazily; see :mod:`ssl_kd.data.folder`).
    """

    targets: Sequence[int]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Any, int]: ...


@dataclass
class ImageSplits:
    """A dataset's fixed train and test splits plus what transforms need to know."""

    train: ImageSource
    test: ImageSource
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    class_names: list[str]


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a uint8 ``(N, C, H, W)`` tensor, in 0..1 units."""
    values = images.float().div_(255).transpose(0, 1).reshape(images.shape[1], -1)
    return tuple(values.mean(1).tolist()), tuple(values.std(1).tolist())


class TensorImages:
    """An in-memory image source over a uint8 ``(N, C, H, W)`` tensor and integer labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels
        self.targets = labels.tolist()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], self.targets[index]

    def subset(self, indices: torch.Tensor) -> TensorImages:
        return TensorImages(self.images[indices], self.labels[indices])
