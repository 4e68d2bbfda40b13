"""What every detection method shares: its config fields, its batch type and how it gets a detector."""

from __future__ import annotations

from pydantic import Field

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.detection.domain import DOMAIN, DetectionBatch, DetectionDataConfig, DetectionFacts
from ssl_kd.detection.models import Detector
from ssl_kd.engine.method import MethodEnv, TrainableMethod
from ssl_kd.errors import ConfigError


class DetectionTrainConfig(TrainStageConfig):
    """A detection training stage: a detection dataset at a fixed image size."""

    data: DetectionDataConfig = Field(default_factory=DetectionDataConfig)


def detector_model(spec: ModelSpec, env: MethodEnv) -> Detector:
    """A new detector ``spec.arch`` (``retinanet``, ``fcos``) sized to the stage's classes, or an earlier stage's,
    through ``env.load_model``: a new detector's backbone (not its FPN or head) takes ``spec.weights`` (e.g.
    torchvision's ImageNet ResNet-18 file) or the backbone of stage ``spec.backbone_from``.

    Raises:
        ConfigError: the arch or the loaded model is not a detector, or it detects another number of classes.
    """
    facts: DetectionFacts = env.facts
    model = env.load_model(spec, facts.num_classes)
    if not isinstance(model, Detector):
        arch = getattr(model, "arch", type(model).__name__)
        made = f"model {spec.arch!r} is" if spec.from_ is None else f"stage {spec.from_!r} made a {arch!r} model,"
        raise ConfigError(f"{made} not a detector; detection takes retinanet or fcos")
    return model


class DetectionMethod(TrainableMethod):
    """Base of detection methods: batches are :class:`~ssl_kd.detection.domain.DetectionBatch` es."""

    domains = (DOMAIN,)

    def step(self, inputs: DetectionBatch, phase: int) -> dict:
        return self.training_step(inputs)

    def training_step(self, batch: DetectionBatch) -> dict:
        """The weighted loss terms of one batch of augmented images and their boxes."""
        raise NotImplementedError
