"""Rotation prediction on video: every frame of a clip is rotated by k x 90 degrees; the model predicts k.

Image RotNet (Gidaris et al., ICLR 2018, arXiv 1803.07728) applied to whole clips, as 3D RotNet (Jing and Tian,
arXiv 1811.11387) does; one of the self-supervised teachers of docs/methods/video_graph.md [reconstruction].
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ssl_kd.methods.base import register_method
from ssl_kd.methods.video_pretext import PretextConfig, PretextMethod, even_frames, random_labels

ROTATIONS = 4


class RotationConfig(PretextConfig):
    """``method: pretext_rotation``: 4 classes (0, 90, 180, 270 degrees counter-clockwise)."""

    method: Literal["pretext_rotation"] = "pretext_rotation"


def rotate_clips(clips: Tensor, quarter_turns: Tensor) -> Tensor:
    """Rotate each clip ``(T, C, H, W)`` of a batch counter-clockwise by ``quarter_turns[i]`` x 90 degrees."""
    rotated = clips.clone()
    for k in range(1, ROTATIONS):
        chosen = quarter_turns == k
        rotated[chosen] = torch.rot90(clips[chosen], k, dims=(-2, -1))
    return rotated


@register_method("pretext_rotation")
class RotationPrediction(PretextMethod):
    """Predict the rotation (k x 90 degrees) applied to all frames of a clip; square frames."""

    config_class = RotationConfig

    @classmethod
    def task_classes(cls, cfg: RotationConfig) -> int:
        return ROTATIONS

    def make_task(self, videos: Tensor) -> tuple[Tensor, Tensor]:
        labels = random_labels(len(videos), ROTATIONS, videos.device)
        return rotate_clips(even_frames(videos, self.cfg.clip_frames), labels), labels
