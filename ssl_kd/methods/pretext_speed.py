"""Playback-speed prediction: a clip is sampled at one of several frame strides; the model predicts the stride.

Benaim et al., "SpeedNet: Learning the Speediness in Videos", CVPR 2020 (and Epstein et al.'s playback-rate tasks); one
of the self-supervised teachers of docs/methods/video_graph.md [reconstruction]. Stride ``s`` takes ``clip_frames``
frames ``start, start + s, ...`` from a uniformly random ``start``; ``data.video.frames`` must cover the largest stride:
``(clip_frames - 1) * max(speeds) + 1`` frames.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.methods.base import register_method
from ssl_kd.methods.video_pretext import PretextConfig, PretextMethod, random_labels


class SpeedConfig(PretextConfig):
    """``method: pretext_speed``: one class per entry of ``speeds`` (frame strides)."""

    method: Literal["pretext_speed"] = "pretext_speed"
    speeds: list[int] = Field(default_factory=lambda: [1, 2], min_length=2, description="frame strides, one class each")

    @model_validator(mode="after")
    def _span_fits(self) -> SpeedConfig:
        span = (self.clip_frames - 1) * max(self.speeds) + 1
        if any(s < 1 for s in self.speeds) or len(set(self.speeds)) != len(self.speeds):
            raise ValueError(f"speeds must be distinct positive strides, got {self.speeds}")
        if self.data.video.frames < span:
            raise ValueError(f"stride {max(self.speeds)} needs data.video.frames >= {span}")
        return self


def sample_at_speed(videos: Tensor, strides: Tensor, starts: Tensor, frames: int) -> Tensor:
    """Clip ``i`` = frames ``starts[i] + strides[i] * t`` (t < ``frames``) of video ``i``."""
    index = starts[:, None] + strides[:, None] * torch.arange(frames, device=videos.device)
    gather = index.view(*index.shape, 1, 1, 1).expand(-1, -1, *videos.shape[2:])
    return videos.gather(1, gather)


@register_method("pretext_speed")
class SpeedPrediction(PretextMethod):
    """Predict the frame stride (playback speed) of a clip."""

    config_class = SpeedConfig

    @classmethod
    def task_classes(cls, cfg: SpeedConfig) -> int:
        return len(cfg.speeds)

    def make_task(self, videos: Tensor) -> tuple[Tensor, Tensor]:
        frames = self.cfg.clip_frames
        labels = random_labels(len(videos), len(self.cfg.speeds), videos.device)
        strides = torch.as_tensor(self.cfg.speeds, device=videos.device)[labels]
        latest = videos.shape[1] - (frames - 1) * strides  # exclusive upper bound of the start frame
        starts = (torch.rand(len(videos)).to(videos.device) * latest).long()
        return sample_at_speed(videos, strides, starts, frames), labels
