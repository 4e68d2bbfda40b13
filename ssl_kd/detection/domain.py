"""The object-detection domain: images with boxes and class labels, one-stage detectors, COCO box mAP.

A training batch is a :class:`DetectionBatch`: images all of the data's fixed size (already augmented), and per
image its boxes (xyxy pixels) and labels (1..num_classes; 0 is background). Methods learn what the data holds from
:class:`DetectionFacts` (class names, image size, per-class box size statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

DOMAIN = "object_detection"


class DetectionBatch(NamedTuple):
    """An object-detection batch.

    Attributes:
        images: ``(B, 3, H, W)`` float in [0, 1], all ``data.image_size`` square, already augmented.
        boxes: per image ``(N_i, 4)`` float xyxy in pixels of ``images`` (``N_i`` may be 0).
        labels: per image ``(N_i,)`` int64 in ``1..num_classes`` (0 is background, torchvision's convention).
    """

    images: Tensor
    boxes: list[Tensor]
    labels: list[Tensor]


@dataclass(frozen=True)
class DetectionFacts:
    """What a detection method may know of its data.

    Attributes:
        num_classes: object classes (labels ``1..num_classes``).
        class_names: name of label ``k`` at index ``k - 1``.
        image_size: side of the square images, in pixels.
        box_stats: ``(num_classes, 4)`` float: per class the mean width, mean height, std of width and std of height
            of its training boxes, relative to ``image_size`` (row ``k - 1`` is label ``k``; zeros for a class
            without boxes).
        class_frequency: ``(num_classes,)`` float: each class's share of the training boxes (sums to 1).
    """

    num_classes: int
    class_names: tuple[str, ...]
    image_size: int
    box_stats: Tensor
    class_frequency: Tensor
