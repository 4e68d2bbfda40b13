"""``detector``: one detector (RetinaNet or FCOS on a backbone + FPN) trained alone on its detection losses.

Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, arXiv 1708.02002 (docs/methods/detection.md)::

    L = FL(p, y) / N_fg + Σ_fg |Δ_pred − Δ_true|_1 / N_fg,   FL(p, y) = −α_t (1 − p_t)^γ log p_t

(torchvision's RetinaNet losses; FCOS adds its GIoU and centre-ness terms). The teacher of a detection distillation
pipeline and the "student alone" baseline are both this method.
"""

from __future__ import annotations

from torch import Tensor

from ssl_kd.config.schema import ModelSpec
from ssl_kd.detection.domain import DetectionBatch
from ssl_kd.detection.methods.base import DetectionMethod, DetectionTrainConfig, detector_model
from ssl_kd.detection.models import Detector
from ssl_kd.engine.method import MethodEnv, register_method


class DetectorConfig(DetectionTrainConfig):
    """A detector: ``model: {arch: retinanet, options: {backbone: resnet50, fpn_channels: 64}}`` (or ``from``)."""

    model: ModelSpec


@register_method("detector")
class DetectorTraining(DetectionMethod):
    """L = focal classification loss + L1 box regression (torchvision's RetinaNet / FCOS losses), detector alone."""

    config_class = DetectorConfig

    def __init__(self, cfg: DetectorConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.model = detector_model(cfg.model, env)

    def training_step(self, batch: DetectionBatch) -> dict[str, Tensor]:
        features = self.model.features(self.model.normalize(batch.images))
        return self.model.detection_losses(batch.images, features, batch.boxes, batch.labels)

    def output_model(self) -> Detector:
        return self.model
