"""Supervised training with cross-entropy: teachers, and the student-alone baseline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.methods.base import Method, MethodEnv, label_loss, register_method
from ssl_kd.models import BackboneModel


class SupervisedConfig(TrainStageConfig):
    """``method: supervised``: one model trained with (optionally label-smoothed) cross-entropy."""

    method: Literal["supervised"] = "supervised"
    model: ModelSpec
    label_smoothing: float = Field(0.0, ge=0, lt=1)


@register_method("supervised")
class Supervised(Method):
    """L = CE(z, y), with label smoothing ``label_smoothing`` (over the labelled samples of partly labelled data)."""

    config_class = SupervisedConfig
    partial_labels = True

    def __init__(self, cfg: SupervisedConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.model = env.load_model(cfg.model, env.facts.num_classes)
        self.ce = label_loss(cfg, cfg.label_smoothing)

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        logits = self.model(images)
        return {"ce": self.ce(logits, labels)}

    def output_model(self) -> BackboneModel:
        return self.model
