"""What the engine trains: a :class:`TrainableMethod` over opaque batches, and the :class:`Batch` loaders yield.

The engine knows nothing of images, triples or graphs. A training loader yields :class:`Batch` es whose ``inputs``
are whatever the domain's collate built (a tensor, or a tuple / list / mapping of tensors, nested); the engine
moves ``inputs`` to the device as a whole and hands them to :meth:`TrainableMethod.step`. Domains subclass
:class:`TrainableMethod` with their own batch conventions (classification methods unpack ``(images, labels)``;
link-prediction methods take ``(triples, negatives, ...)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from ssl_kd.registry import METHODS


class Batch(NamedTuple):
    """One training batch as a loader yields it.

    Attributes:
        inputs: the domain's batch (tensor, tuple / list / mapping of tensors, nested).
        sample_ids: dataset indices of the batch's samples (int64, CPU); its length is the batch size, which
            throughput (samples/s) counts. Empty when every sample of the batch was skipped.
        skipped: names of samples that could not be read (e.g. undecodable files), with the reason.
    """

    inputs: Any
    sample_ids: Tensor
    skipped: list[str]


def move_to_device(inputs: Any, device: torch.device, memory_format: torch.memory_format) -> Any:
    """``inputs`` with every tensor on ``device`` (4-d tensors in ``memory_format``); containers keep their type."""
    if isinstance(inputs, Tensor):
        moved = inputs.to(device, non_blocking=True)
        return moved.contiguous(memory_format=memory_format) if moved.ndim == 4 else moved
    if isinstance(inputs, Mapping):
        return type(inputs)({key: move_to_device(value, device, memory_format) for key, value in inputs.items()})
    if isinstance(inputs, tuple) and hasattr(inputs, "_fields"):  # a NamedTuple
        return type(inputs)(*(move_to_device(value, device, memory_format) for value in inputs))
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(move_to_device(value, device, memory_format) for value in inputs)
    return inputs


@dataclass
class OwnOptimizer:
    """Parameters that train under their own optimiser, schedule and gradient clipping.

    Attributes:
        parameters: the parameters (left out of the stage's main optimiser).
        optim: their optimiser and schedule (an ``OptimConfig``).
        grad_clip: max global gradient norm of these parameters alone (None: no clipping).
    """

    parameters: list[nn.Parameter]
    optim: Any
    grad_clip: float | None = None


@dataclass
class MethodEnv:
    """What a method may ask of the stage that runs it.

    Attributes:
        facts: the domain's facts about the stage's data (class count for classification, entity and relation
            counts for link prediction, ...): a dataclass of the dataset's domain.
        load_model: ``load_model(spec, num_classes=None)``: a new ``arch`` or an earlier stage's model.
        num_train_samples: size of the training set (sample ids run from 0 to this).
        work_dir: the stage's folder, for method files that live and die with the stage (e.g. a teacher cache).
        data: the domain's loaded data, for methods that need more than the facts (e.g. a KG's known triples).
    """

    facts: Any
    load_model: Callable[..., nn.Module]
    num_train_samples: int = 0
    work_dir: Path | None = None
    data: Any = None


class TrainableMethod(nn.Module):
    """Base of everything the engine trains: models plus losses, returning named loss terms per batch.

    Class attributes:
        config_class: the method's config schema (a ``TrainStageConfig`` subclass).
        domains: the dataset domains the method trains on (``ssl-kd list datasets`` shows each dataset's).
    """

    config_class: ClassVar[type]
    domains: ClassVar[tuple[str, ...]] = ()
    update_phases: int = 1
    """Optimiser steps per batch. The engine calls :meth:`step` for each phase in turn and steps the optimiser
    after each (only parameters that received a gradient move; an optimiser none of whose parameters did is not
    stepped), e.g. DML's alternating peer updates, or ICD's extra updates of its auxiliary decoder."""
    find_unused_parameters: bool = False
    """Tell DistributedDataParallel that a step may leave some trainable parameters without a gradient."""

    def __init__(self, cfg: Any, env: MethodEnv) -> None:
        super().__init__()
        self.cfg = cfg
        self.env = env
        self._frozen: list[str] = []
        self.sample_ids: Tensor | None = None
        """Dataset indices (CPU, int64) of the current training batch; set by the engine before each step."""

    def step(self, inputs: Any, phase: int) -> dict[str, Tensor]:
        """The weighted loss terms of update phase ``phase`` for a batch's ``inputs`` (already on the device)."""
        raise NotImplementedError

    def output_model(self) -> nn.Module:
        """The model this stage hands to later stages (e.g. the student)."""
        raise NotImplementedError

    def own_optimizers(self) -> dict[str, OwnOptimizer]:
        """Parameter sets with their own optimiser, e.g. ICD's auxiliary decoder (AdamW) beside an SGD student.

        Every other trainable parameter trains under the stage's ``optim``. The engine schedules, clips, steps and
        checkpoints each set's optimiser alongside the main one. Default: none.
        """
        return {}

    def on_train_start(self) -> None:
        """Hook before the first step of a stage that starts from scratch, not of one resumed from a checkpoint
        (the checkpoint already holds what it did), e.g. ICD's decoder pre-training. Default: nothing."""

    def on_step_end(self, step: int) -> None:
        """Hook after each optimiser step (momentum encoders, queues)."""

    def on_epoch_end(self, epoch: int) -> None:
        """Hook after each epoch (snapshots of earlier predictions)."""

    def write_outputs(self, stage_dir: Path) -> None:
        """Hook after the stage wrote ``model.pt`` (main rank only): files the method adds to its stage folder
        (e.g. CPF's per-node gates, ``gates.csv``). Default: none."""

    def freeze(self, name: str) -> None:
        """Keep submodule ``name`` in eval mode without gradients; it is left out of checkpoints."""
        module = getattr(self, name)
        module.eval()
        module.requires_grad_(False)
        self._frozen.append(name)

    def train(self, mode: bool = True) -> TrainableMethod:
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


def register_method(key: str) -> Callable[[type[TrainableMethod]], type[TrainableMethod]]:
    """Register a method class under ``key`` (the stage's ``method:`` value)."""
    return METHODS.register(key)
