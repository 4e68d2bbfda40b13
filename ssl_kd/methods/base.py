"""The classification method interface: batches of ``(images, labels)``, models with a classifier head.

Image and video classification methods subclass :class:`Method`; the engine sees only its
:class:`~ssl_kd.engine.method.TrainableMethod` side (:meth:`Method.step` unpacks the batch). A new method is one
module defining a config class and a :class:`Method` subclass, registered with :func:`register_method`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from ssl_kd.config.schema import TrainStageConfig
from ssl_kd.engine.method import MethodEnv, TrainableMethod, register_method
from ssl_kd.losses import LabelledCrossEntropy
from ssl_kd.models import BackboneModel

__all__ = ["Method", "MethodEnv", "label_loss", "register_method"]

CLASSIFICATION_DOMAINS = ("image_classification", "video_classification")


def label_loss(cfg: TrainStageConfig, label_smoothing: float = 0.0) -> nn.Module:
    """Cross-entropy for ``cfg``'s data: over the labelled samples only when ``data.labelled_per_class`` is set,
    else plain ``nn.CrossEntropyLoss`` (bit-identical to ``F.cross_entropy``)."""
    if cfg.data.labelled_per_class is not None:
        return LabelledCrossEntropy(label_smoothing)
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


class Method(TrainableMethod):
    """Base class of image and video classification methods.

    Class attributes:
        config_class: the method's config schema (a :class:`TrainStageConfig` subclass).
        uses_labels: False for self-supervised methods; the labels are then dropped before the method sees the
            batch (``labels=None``), so no label reaches it.
        partial_labels: True for methods that can train on partly labelled data (``data.labelled_per_class``):
            unlabelled samples carry the label ``UNLABELLED`` and the method's label loss must skip them
            (:func:`label_loss`). Configs reject ``labelled_per_class`` for every other method.
    """

    config_class: ClassVar[type[TrainStageConfig]]
    domains: ClassVar[tuple[str, ...]] = CLASSIFICATION_DOMAINS
    uses_labels: ClassVar[bool] = True
    partial_labels: ClassVar[bool] = False

    def step(self, inputs: tuple[Tensor | list[Tensor], Tensor], phase: int) -> dict[str, Tensor]:
        images, labels = inputs
        return self.phase_step(phase, images, labels if self.uses_labels else None)

    @classmethod
    def train_transform(
        cls, cfg: TrainStageConfig, mean: Sequence[float], std: Sequence[float]
    ) -> Callable[[Any], Any] | None:
        """The per-sample training transform, or None for the stage's default (``data.augment``).

        Multi-view methods return a transform producing a tuple of views; the batch then reaches
        :meth:`training_step` as a list of tensors.
        """
        return None

    def training_step(self, images: Tensor | list[Tensor], labels: Tensor | None) -> dict[str, Tensor]:
        """Return the weighted loss terms of one batch; the engine optimises their sum."""
        raise NotImplementedError

    def phase_step(self, phase: int, images: Tensor | list[Tensor], labels: Tensor | None) -> dict[str, Tensor]:
        """The loss terms of update phase ``phase`` (``0 <= phase < update_phases``); one phase by default."""
        return self.training_step(images, labels)

    def output_model(self) -> BackboneModel:
        """The model this stage hands to later stages (e.g. the student)."""
        raise NotImplementedError
