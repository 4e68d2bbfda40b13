"""Shared config and data path of the self-supervised methods (no labels reach them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from ssl_kd.config.schema import TrainStageConfig
from ssl_kd.data.views import ViewsConfig, two_views
from ssl_kd.methods.base import Method


class SelfSupervisedConfig(TrainStageConfig):
    """Fields every self-supervised method has: the views, the projection head and the temperature."""

    views: ViewsConfig = Field(default_factory=ViewsConfig)
    dim: int = Field(128, ge=1, description="projection (embedding) width")
    hidden_dim: int | None = Field(None, ge=1, description="head hidden width (default: the backbone's width)")
    temperature: float = Field(0.2, ge=1e-3, description="contrastive temperature")
    key_bn_splits: int = Field(
        1, ge=1, description="momentum keys in this many shuffled sub-batches (single-process shuffle BN)"
    )


class SelfSupervisedMethod(Method):
    """Base of label-free methods: two augmented views per image, ``labels`` is always None."""

    uses_labels = False

    @classmethod
    def train_transform(
        cls, cfg: SelfSupervisedConfig, mean: Sequence[float], std: Sequence[float]
    ) -> Callable[[Any], Any]:
        return two_views(cfg.views, cfg.data.image_size, mean, std)
