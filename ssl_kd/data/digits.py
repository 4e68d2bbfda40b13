"""The embedded default dataset: scikit-learn's 1,797 handwritten digits as RGB images.

Each 8x8 image (values 0..16) is scaled to 0..1, bilinearly resized to ``image_size`` (default 32) and repeated
over three channels. The split is fixed: ``train_test_split(test_size=0.25, stratify=labels, random_state=0)``,
1,347 training and 450 test images. Nothing is downloaded: the data ships inside scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ssl_kd.data.base import ImageSplits, TensorImages, channel_stats, register_dataset

SPLIT_SEED = 0
TEST_FRACTION = 0.25


def digits_tensors(image_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as uint8 ``(N, 3, S, S)`` images and int64 labels."""
    from sklearn.datasets import load_digits  # here, not at import: the CLI starts 2 s faster

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return images, torch.as_tensor(digits.target, dtype=torch.int64)


@register_dataset("digits", requires_root=False)
def build_digits(root: Path | None, image_size: int) -> ImageSplits:
    """Build the fixed digits train/test split (``root`` is unused)."""
    from sklearn.model_selection import train_test_split

    images, labels = digits_tensors(image_size)
    train_idx, test_idx = train_test_split(
        torch.arange(len(labels)).numpy(),
        test_size=TEST_FRACTION,
        stratify=labels.numpy(),
        random_state=SPLIT_SEED,
    )
    return digit_splits(images, labels, train_idx, test_idx)


def digit_splits(images: torch.Tensor, labels: torch.Tensor, train_idx: Any, test_idx: Any) -> ImageSplits:
    """The digits at ``train_idx`` and ``test_idx`` (index arrays) as 10-class image splits, normalised with the
    training images' channel statistics."""
    train = TensorImages(images[train_idx], labels[train_idx])
    mean, std = channel_stats(train.images)
    return ImageSplits(
        train=train,
        test=TensorImages(images[test_idx], labels[test_idx]),
        num_classes=10,
        mean=mean,
        std=std,
        class_names=[str(d) for d in range(10)],
    )
