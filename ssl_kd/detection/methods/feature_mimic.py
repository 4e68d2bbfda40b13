"""``fpn_mimic``: plain FPN feature imitation, the baseline ICD is measured against.

Every student FPN level regresses the frozen teacher's level of the same stride through a learned 1x1 convolution,
everywhere on the map (no instance conditioning)::

    L = L_det(student) + λ · (1/L) Σ_l mean (a_l(P_l^s) − P_l^t)²

The "FitNet" baseline of Kang et al., "Instance-Conditional Knowledge Distillation for Object Detection", NeurIPS
2021, arXiv 2110.12724, after Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015, arXiv 1412.6550
(docs/methods/icd.md). The adapters train with the student under the stage's ``optim``; the output model is the
student.
"""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from ssl_kd.blocks.teacher_outputs import frozen_forward
from ssl_kd.config.schema import ModelSpec
from ssl_kd.detection.domain import DetectionBatch
from ssl_kd.detection.methods.base import DetectionMethod, DetectionTrainConfig, detector_model
from ssl_kd.detection.models import Detector
from ssl_kd.engine.method import MethodEnv, register_method
from ssl_kd.errors import ConfigError
from ssl_kd.losses.feature_mimic import FeatureMimicLoss


class FPNMimicConfig(DetectionTrainConfig):
    """Plain FPN imitation: the student, the frozen teacher and λ."""

    student: ModelSpec
    teacher: ModelSpec
    mimic_weight: float = Field(1.0, ge=0, description="λ of the mean squared error over FPN levels")


@register_method("fpn_mimic")
class FPNMimic(DetectionMethod):
    """Student detector + mean squared error between its adapted FPN levels and a frozen teacher's."""

    config_class = FPNMimicConfig

    def __init__(self, cfg: FPNMimicConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = detector_model(cfg.student, env)
        self.teacher = detector_model(cfg.teacher, env)
        self.freeze("teacher")
        if self.student.strides() != self.teacher.strides():
            raise ConfigError(
                f"stage {cfg.name!r}: student FPN strides {self.student.strides()} differ from the teacher's "
                f"{self.teacher.strides()}; feature imitation pairs levels of equal stride"
            )
        self.adapters = nn.ModuleList(
            nn.Conv2d(self.student.fpn_channels, self.teacher.fpn_channels, 1) for _ in self.student.strides()
        )
        self.mimic = FeatureMimicLoss(cfg.mimic_weight)

    def teacher_levels(self, images: Tensor) -> list[Tensor]:
        return self.teacher.features(self.teacher.normalize(images))

    def training_step(self, batch: DetectionBatch) -> dict[str, Tensor]:
        images = self.student.normalize(batch.images)
        levels = self.student.features(images)
        terms = self.student.detection_losses(images, levels, batch.boxes, batch.labels)
        teacher = frozen_forward(self.teacher_levels, batch.images)
        adapted = [adapter(level) for adapter, level in zip(self.adapters, levels, strict=True)]
        return terms | {"mimic": self.mimic(adapted, teacher)}

    def output_model(self) -> Detector:
        return self.student
