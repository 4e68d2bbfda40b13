"""Adapt a pretrained backbone (e.g. a self-supervised pretext teacher) to the target classes.

Zhang & Peng (IJCAI-18) adapt their self-supervised teachers to the target task before the graph distillation
(docs/methods/video_graph.md, "Teachers: pretext tasks and adaptation": each teacher gets a label head). The head is a
new linear classifier over the backbone's features. ``mode: finetune`` trains the whole network with
cross-entropy, ``mode: linear`` only the head (the backbone frozen, in eval mode) [reconstruction: the mode].
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.methods.base import Method, MethodEnv, label_loss, register_method
from ssl_kd.models import BackboneModel


class AdaptConfig(TrainStageConfig):
    """``method: adapt``: a new head for the dataset's classes on ``model`` (normally ``{from: PRETEXT_STAGE}``)."""

    method: Literal["adapt"] = "adapt"
    model: ModelSpec
    mode: Literal["finetune", "linear"] = Field("finetune", description="train everything, or only the new head")


def replace_head(model: BackboneModel, num_classes: int) -> BackboneModel:
    """Give ``model`` a fresh linear classifier with ``num_classes`` outputs (its spec follows)."""
    model.classifier = nn.Linear(model.feature_dim, num_classes)
    model.num_classes = num_classes
    return model


@register_method("adapt")
class Adapt(Method):
    """L = CE(head(backbone(x)), y) with a new head; in linear mode the backbone is frozen."""

    config_class = AdaptConfig

    def __init__(self, cfg: AdaptConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.model = replace_head(env.load_model(cfg.model, None), env.facts.num_classes)
        self.ce = label_loss(cfg)
        if cfg.mode == "linear":
            self.model.blocks.requires_grad_(False)
            self.model.pool.requires_grad_(False)

    def train(self, mode: bool = True) -> Adapt:
        super().train(mode)
        if self.cfg.mode == "linear":  # frozen backbone: keep BatchNorm statistics fixed
            self.model.blocks.eval()
            self.model.pool.eval()
        return self

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        return {"ce": self.ce(self.model(images), labels)}

    def output_model(self) -> BackboneModel:
        return self.model
