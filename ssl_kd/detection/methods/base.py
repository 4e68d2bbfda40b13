"""What every detection method shares: its config fields, its batch type and how it gets a detector."""

from __future__ import annotations

from pydantic import Field

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.detection.domain import DOMAIN, DetectionBatch, DetectionDataConfig, DetectionFacts
from ssl_kd.detection.models import Detector
from ssl_kd.engine.method import MethodEnv, TrainableMethod
from ssl_kd.errors import ConfigError
from ssl_kd.registry import MODELS


class DetectionTrainConfig(TrainStageConfig):
    """A detection training stage: a detection dataset at a fixed image size."""

    data: DetectionDataConfig = Field(default_factory=DetectionDataConfig)


def detector_model(spec: ModelSpec, env: MethodEnv) -> Detector:
    """A new detector ``spec.arch`` (``retinanet``, ``fcos``) sized to the stage's classes, or an earlier stage's.

    Raises:
        ConfigError: the arch or the loaded model is not a detector, or it detects another number of classes.
    """
    facts: DetectionFacts = env.facts
    if spec.from_ is None:
        model = MODELS.get(spec.arch)(num_classes=facts.num_classes, **spec.options)
        if not isinstance(model, Detector):
            raise ConfigError(f"model {spec.arch!r} is not a detector; detection takes retinanet or fcos")
        return model
    model = env.load_model(spec)
    if not isinstance(model, Detector):
        raise ConfigError(f"stage {spec.from_!r} made a {type(model).__name__}, not a detector")
    if model.num_classes != facts.num_classes:
        raise ConfigError(
            f"stage {spec.from_!r} detects {model.num_classes} classes; this stage's data has {facts.num_classes}"
        )
    return model


class DetectionMethod(TrainableMethod):
    """Base of detection methods: batches are :class:`~ssl_kd.detection.domain.DetectionBatch` es."""

    domains = (DOMAIN,)

    def step(self, inputs: DetectionBatch, phase: int) -> dict:
        return self.training_step(inputs)

    def training_step(self, batch: DetectionBatch) -> dict:
        """The weighted loss terms of one batch of augmented images and their boxes."""
        raise NotImplementedError
