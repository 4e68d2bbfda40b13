"""Shared machinery of the self-supervised video pretext teachers (docs/methods/video_graph.md [reconstruction]).

A pretext method never sees the dataset's labels (``uses_labels = False``): each batch of decoded videos
``(B, F, C, H, W)`` is turned into model clips ``(B, T, C, H, W)`` and pretext labels by the task's
``make_task``, which draws from torch's global generator (the engine seeds it per step, so a resumed run replays
the same tasks). The model is a video backbone whose classifier has one output per pretext class; the ``adapt``
method later gives it a head for the target classes, as Zhang & Peng (IJCAI-18) adapt their self-supervised
teachers before distilling them.

Each task lives in its own module: ``pretext_rotation``, ``pretext_order``, ``pretext_speed``, ``pretext_arrow``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.data.video.decoding import uniform_indices
from ssl_kd.methods.base import Method, MethodEnv, label_loss
from ssl_kd.models import BackboneModel


class PretextConfig(TrainStageConfig):
    """Keys every pretext task has; ``data.video.frames`` (frames decoded per video) must be >= ``clip_frames``."""

    model: ModelSpec
    clip_frames: int = Field(8, ge=2, description="frames per model clip")

    @model_validator(mode="after")
    def _enough_frames(self) -> PretextConfig:
        if self.data.video.frames < self.clip_frames:
            raise ValueError(f"data.video.frames ({self.data.video.frames}) < clip_frames ({self.clip_frames})")
        return self


def even_frames(videos: Tensor, frames: int) -> Tensor:
    """``frames`` frames spread evenly over each video (dim 1)."""
    return videos[:, uniform_indices(videos.shape[1], frames).to(videos.device)]


class PretextMethod(Method):
    """A video backbone trained with cross-entropy on labels made from the clips themselves.

    Subclasses set ``task_classes(cfg)`` and ``make_task(videos) -> (clips, labels)``.
    """

    uses_labels: ClassVar[bool] = False

    def __init__(self, cfg: PretextConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.model = env.load_model(cfg.model, self.task_classes(cfg))
        self.ce = label_loss(cfg)

    @classmethod
    def task_classes(cls, cfg: PretextConfig) -> int:
        """Number of pretext classes."""
        raise NotImplementedError

    def make_task(self, videos: Tensor) -> tuple[Tensor, Tensor]:
        """Model clips ``(B, T, C, H, W)`` and pretext labels ``(B,)`` from decoded videos ``(B, F, C, H, W)``."""
        raise NotImplementedError

    def training_step(self, images: Tensor, labels: None) -> dict[str, Tensor]:
        clips, targets = self.make_task(images)
        return {"pretext_ce": self.ce(self.model(clips), targets)}

    def output_model(self) -> BackboneModel:
        return self.model


def random_labels(count: int, classes: int, device: torch.device) -> Tensor:
    """``count`` uniform labels in ``0..classes-1`` from the global generator."""
    return torch.randint(classes, (count,)).to(device)
