"""Arrow of time: a clip is played forwards or backwards; the model predicts which.

Wei, Lim, Zisserman, Freeman, "Learning and Using the Arrow of Time", CVPR 2018; one of the self-supervised
teachers of docs/methods/video_graph.md [reconstruction]. Label 0 = forward, 1 = backward.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ssl_kd.methods.base import register_method
from ssl_kd.methods.video_pretext import PretextConfig, PretextMethod, even_frames, random_labels

FORWARD, BACKWARD = 0, 1


class ArrowConfig(PretextConfig):
    """``method: pretext_arrow``: 2 classes (forward, backward)."""

    method: Literal["pretext_arrow"] = "pretext_arrow"


def play_direction(clips: Tensor, directions: Tensor) -> Tensor:
    """Reverse the frame order (dim 1) of the clips whose direction is ``BACKWARD``."""
    backward = (directions == BACKWARD).view(-1, *([1] * (clips.ndim - 1)))
    return torch.where(backward, clips.flip(1), clips)


@register_method("pretext_arrow")
class ArrowOfTime(PretextMethod):
    """Predict whether a clip plays forwards (0) or backwards (1)."""

    config_class = ArrowConfig

    @classmethod
    def task_classes(cls, cfg: ArrowConfig) -> int:
        return 2

    def make_task(self, videos: Tensor) -> tuple[Tensor, Tensor]:
        labels = random_labels(len(videos), 2, videos.device)
        return play_direction(even_frames(videos, self.cfg.clip_frames), labels), labels
