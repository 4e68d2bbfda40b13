"""The method interface: a method wires models to losses and returns named, weighted loss terms.

The engine (:mod:`ssl_kd.engine.trainer`) owns everything else: devices, precision, optimiser, schedule,
checkpoints, logging. A new method is one module defining a config class and a :class:`Method` subclass,
registered with :func:`register_method`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.losses import LabelledCrossEntropy
from ssl_kd.models import BackboneModel
from ssl_kd.registry import METHODS


@dataclass
class MethodEnv:
    """What a method may ask of the stage that runs it."""

    num_classes: int
    load_model: Callable[[ModelSpec, int | None], BackboneModel]
    """``load_model(spec, num_classes)``: a new ``arch`` or an earlier stage's model (None: any head)."""
    num_train_samples: int = 0
    """Size of the training set (sample ids run from 0 to this)."""
    work_dir: Path | None = None
    """The stage's folder, for method files that live and die with the stage (e.g. a teacher-output cache)."""


def label_loss(cfg: TrainStageConfig, label_smoothing: float = 0.0) -> nn.Module:
    """Cross-entropy for ``cfg``'s data: over the labelled samples only when ``data.labelled_per_class`` is set,
    else plain ``nn.CrossEntropyLoss`` (bit-identical to ``F.cross_entropy``)."""
    if cfg.data.labelled_per_class is not None:
        return LabelledCrossEntropy(label_smoothing)
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


class Method(nn.Module):
    """Base class of training methods.

    Class attributes:
        config_class: the method's config schema (a :class:`TrainStageConfig` subclass).
        uses_labels: False for self-supervised methods; the engine then passes ``labels=None``, so no label
            reaches the method.
        partial_labels: True for methods that can train on partly labelled data (``data.labelled_per_class``):
            unlabelled samples carry the label ``UNLABELLED`` and the method's label loss must skip them
            (:func:`label_loss`). Configs reject ``labelled_per_class`` for every other method.
    """

    config_class: ClassVar[type[TrainStageConfig]]
    uses_labels: ClassVar[bool] = True
    partial_labels: ClassVar[bool] = False
    update_phases: int = 1
    """Optimiser steps per batch. The engine calls :meth:`phase_step` for each phase in turn and steps the
    optimiser after each (only parameters that received a gradient move), e.g. DML's alternating peer updates."""
    find_unused_parameters: bool = False
    """Tell DistributedDataParallel that a step may leave some trainable parameters without a gradient."""

    def __init__(self, cfg: TrainStageConfig, env: MethodEnv) -> None:
        super().__init__()
        self.cfg = cfg
        self.env = env
        self._frozen: list[str] = []
        self.sample_ids: Tensor | None = None
        """Dataset indices (CPU, int64) of the current training batch; set by the engine before each step."""

    def freeze(self, name: str) -> None:
        """Keep submodule ``name`` in eval mode without gradients; it is left out of checkpoints."""
        module = getattr(self, name)
        module.eval()
        module.requires_grad_(False)
        self._frozen.append(name)

    def train(self, mode: bool = True) -> Method:
        super().train(mode)
        for name in self._frozen:
            getattr(self, name).eval()
        return self

    def trainable_named_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((name, p) for name, p in self.named_parameters() if p.requires_grad)

    def trainable_state_dict(self) -> dict[str, Tensor]:
        """The state to checkpoint: everything but frozen submodules (those are rebuilt from their source)."""
        prefixes = tuple(f"{name}." for name in self._frozen)
        return {k: v for k, v in self.state_dict().items() if not k.startswith(prefixes)}

    def load_trainable_state_dict(self, state: dict[str, Tensor]) -> None:
        prefixes = tuple(f"{name}." for name in self._frozen)
        result = self.load_state_dict(state, strict=False)
        missing = [key for key in result.missing_keys if not key.startswith(prefixes)]
        if missing or result.unexpected_keys:
            raise RuntimeError(f"checkpoint does not fit: missing {missing}, unexpected {result.unexpected_keys}")

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

    def on_step_end(self, step: int) -> None:
        """Hook after each optimiser step (momentum encoders, queues)."""

    def on_epoch_end(self, epoch: int) -> None:
        """Hook after each epoch (snapshots of earlier predictions)."""


def register_method(key: str) -> Callable[[type[Method]], type[Method]]:
    """Register a :class:`Method` subclass under ``key`` (the stage's ``method:`` value)."""
    return METHODS.register(key)
