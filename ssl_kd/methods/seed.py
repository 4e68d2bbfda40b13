"""SEED: self-supervised distillation by similarity distributions.

docs/methods/seed.md [verified: code jacobswan1/SEED].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ssl_kd.blocks.memory import KeyQueue, ProjectedEncoder
from ssl_kd.config.schema import ModelSpec
from ssl_kd.data.views import view_transform
from ssl_kd.losses import SimilarityDistillation
from ssl_kd.methods.base import MethodEnv, register_method
from ssl_kd.methods.distillation import DistillationMethod
from ssl_kd.methods.self_supervised import SelfSupervisedConfig, SelfSupervisedMethod
from ssl_kd.models import BackboneModel


class SEEDConfig(SelfSupervisedConfig):
    """``method: seed``. ``temperature`` is the student's T_s (0.2); the teacher's T_t is 1e-4 (official)."""

    method: Literal["seed"] = "seed"
    student: ModelSpec
    teacher: ModelSpec
    queue_size: int = Field(65536, ge=1, description="K, teacher embeddings kept as the relation set")
    teacher_temperature: float = Field(1e-4, gt=0)


@register_method("seed")
class SEED(SelfSupervisedMethod, DistillationMethod):
    """L = -sum_j softmax([t.t, t.Q] / T_t)_j log_softmax([s.t, s.Q] / T_s)_j; then enqueue t.

    Fang et al., ICLR 2021, arXiv 2101.04731. The frozen teacher and the student see the same augmented view;
    ``t`` is the teacher's normalised penultimate feature [reconstruction: the official teacher adds its MoCo
    head], ``s`` the student's projection to the teacher's width.
    """

    config_class = SEEDConfig

    def __init__(self, cfg: SEEDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.load_teacher(cfg.teacher, None)
        width = self.teacher.feature_dim
        self.student = ProjectedEncoder(env.load_model(cfg.student, None), width, cfg.hidden_dim)
        self.queue = KeyQueue(cfg.queue_size, {"teacher": width})
        self.distill = SimilarityDistillation(cfg.temperature, cfg.teacher_temperature)

    @classmethod
    def train_transform(cls, cfg: SEEDConfig, mean: Sequence[float], std: Sequence[float]) -> Callable[[Any], Any]:
        return view_transform(cfg.views, cfg.data.image_size, mean, std)

    def training_step(self, images: Tensor, labels: None) -> dict[str, Tensor]:
        teacher = F.normalize(self.teacher_forward(images, via="forward_features").float(), dim=1)
        loss = self.distill(self.student(images), teacher, self.queue.bank("teacher"))
        self.queue.enqueue(teacher=teacher)
        return {"seed": loss}

    def output_model(self) -> BackboneModel:
        return self.student.backbone
