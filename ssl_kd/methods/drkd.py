"""DR-KD: teacher-free self-distillation from the student's earlier self, rectified by the labels. docs/methods/drkd.md.

Amik, Tasin, Ahmed, Elahi, Mohammed, "Dynamic Rectification Knowledge Distillation", arXiv 2201.11319
[verified: abstract: self-teacher, rectification; third-party: the logit swap; reconstruction: the rest]::

    z = f_theta(x);  t = sg(f_snapshot(x));  t' = t with the wrongly predicted class's logit swapped with y's
    L = (1 - alpha) * CE(z, y) + alpha * tau^2 * KL(softmax(t' / tau) || softmax(z / tau))

The self-teacher is an earlier state of the student, never the same forward pass (that gives a zero gradient on
every correctly predicted sample, docs/methods/drkd.md, 'Pitfalls'; ``same_forward`` is therefore not offered):

* ``previous_epoch`` (default [reconstruction], docs/methods/drkd.md): the logits the student itself produced for
  each sample during the previous epoch's training pass, recorded by sample id (the engine's batches carry dataset
  indices). No extra forward pass, as the abstract's "no additional training cost" says. The record is a
  (samples, classes) buffer, checkpointed with the method; under torchrun every rank records the logits of all
  ranks (gathered each step). A sample never seen yet has all-zero logits, i.e. a uniform target.
* ``snapshot``: a copy of the student's weights taken at the end of each epoch, re-run without gradients in eval
  mode on the current batch (one extra forward).
* ``ema``: an exponential moving average of the student's weights (``ema_decay``, 0.999 [reconstruction]),
  updated after every optimiser step.
* ``pretrained``: a frozen earlier stage's model (``pretrained: {from: STAGE}``), the Tf-KD self-teacher.

``alpha_schedule: linear`` [not in DR-KD; from PS-KD, Kim et al., "Self-Knowledge Distillation with Progressive
Refinement of Targets", ICCV 2021] ramps the KD share as alpha * (epoch + 1) / epochs, so an early, still poor
self-teacher weighs little; ``constant`` (default) keeps alpha throughout. ``weighting: additive`` keeps the CE
weight at 1 (CE + alpha * KD) instead of the convex (1 - alpha) * CE + alpha * KD [not in DR-KD]: on short budgets,
where the student is still far from fitting its data, the convex form slows it down by shrinking the label gradient
(the KD-zoo setting, chosen on pilot seeds by ``benchmarks/drkd_pilot.yaml``, is additive, alpha 1 ramped, tau 2).

For the self-teachers (all but ``pretrained``) the first ``ce_warmup_epochs`` epochs (default 1, docs/methods/drkd.md)
train with plain CE (weight 1, [reconstruction]) because there is no earlier self yet. On short, low-data budgets one CE
epoch leaves a near-chance self-teacher whose tau-6 targets are almost uniform, and with alpha 0.9 that drives the
student towards uniform predictions; raise ``ce_warmup_epochs`` (and lower ``alpha``/``tau``) there. ``pretrained``
self-teachers are already trained, so they teach from the first step. The record, the snapshot (a registered submodule
without gradients) and the epoch counter are checkpointed, so resume is exact.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.blocks.epoch_counter import EpochCounter
from ssl_kd.blocks.teacher_outputs import frozen_copy, frozen_forward
from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.engine.distributed import all_gather_cat
from ssl_kd.losses import RectifiedKDLoss
from ssl_kd.methods.base import Method, MethodEnv, label_loss, register_method
from ssl_kd.models import BackboneModel


class DRKDConfig(TrainStageConfig):
    """``method: drkd``. Defaults [reconstruction]: previous-epoch snapshot, swap, alpha 0.9, tau 6, 1 CE-only epoch."""

    method: Literal["drkd"] = "drkd"
    student: ModelSpec
    teacher: Literal["previous_epoch", "snapshot", "ema", "pretrained"] = "previous_epoch"
    pretrained: ModelSpec | None = Field(None, description="the self-teacher when teacher=pretrained")
    ema_decay: float = Field(0.999, gt=0, lt=1, description="EMA decay per step when teacher=ema")
    rectify: Literal["swap", "none"] = "swap"
    weighting: Literal["convex", "additive"] = Field(
        "convex", description="convex: (1-alpha)*CE + alpha*KD; additive: CE + alpha*KD"
    )
    ce_warmup_epochs: int = Field(
        1, ge=0, description="epochs of plain CE before a self-teacher (all but pretrained) starts teaching"
    )
    alpha: float = Field(0.9, ge=0, le=1)
    alpha_schedule: Literal["constant", "linear"] = Field(
        "constant", description="linear: alpha * (epoch + 1) / epochs, the progressive ramp of PS-KD"
    )
    tau: float = Field(6.0, gt=0)

    @model_validator(mode="after")
    def _pretrained_given(self) -> DRKDConfig:
        if (self.teacher == "pretrained") != (self.pretrained is not None):
            raise ValueError("give 'pretrained: {from: STAGE}' exactly when teacher is 'pretrained'")
        return self


@register_method("drkd")
class DRKD(Method):
    """Student distilled from its own earlier predictions (or a pretrained copy), rectified; outputs the student."""

    config_class = DRKDConfig

    def __init__(self, cfg: DRKDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = env.load_model(cfg.student, env.facts.num_classes)
        if cfg.teacher == "pretrained":
            self.snapshot = env.load_model(cfg.pretrained, env.facts.num_classes)
            self.freeze("snapshot")
        elif cfg.teacher in ("snapshot", "ema"):
            self.snapshot = frozen_copy(self.student)
        else:
            self.register_buffer("recorded", torch.zeros(env.num_train_samples, env.facts.num_classes))
        self.epochs = EpochCounter()
        self.ce = label_loss(cfg)
        self.loss = RectifiedKDLoss(cfg.alpha, cfg.tau, cfg.rectify, cfg.weighting, self.ce)

    def train(self, mode: bool = True) -> DRKD:
        super().train(mode)
        if hasattr(self, "snapshot"):
            self.snapshot.eval()
        return self

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        logits = self.student(images)
        if self.cfg.teacher == "previous_epoch":
            return self._recorded_step(logits, labels)
        if self.cfg.teacher != "pretrained" and self.epochs.value < self.cfg.ce_warmup_epochs:
            return {"ce": self.ce(logits, labels)}
        teacher_logits = frozen_forward(self.snapshot, images)
        return self.loss(logits, teacher_logits, labels, self._alpha())

    def _alpha(self) -> float:
        """This epoch's KD share: constant, or ramped linearly to ``alpha`` over the stage."""
        if self.cfg.alpha_schedule == "constant":
            return self.cfg.alpha
        return self.cfg.alpha * (self.epochs.value + 1) / self.cfg.epochs

    def _recorded_step(self, logits: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Distil from last epoch's recorded logits of these samples, then record this epoch's."""
        if self.sample_ids is None:
            raise RuntimeError("teacher: previous_epoch needs the batch's sample ids (set by the engine)")
        ids = self.sample_ids.to(self.recorded.device, non_blocking=True)
        warm = self.epochs.value >= self.cfg.ce_warmup_epochs
        if warm:
            terms = self.loss(logits, self.recorded[ids], labels, self._alpha())
        else:
            terms = {"ce": self.ce(logits, labels)}
        self.recorded.index_copy_(0, all_gather_cat(ids), all_gather_cat(logits.detach().float()))
        return terms

    @torch.no_grad()
    def on_step_end(self, step: int) -> None:
        if self.cfg.teacher == "ema":
            for ema, live in zip(self.snapshot.parameters(), self.student.parameters(), strict=True):
                ema.lerp_(live, 1.0 - self.cfg.ema_decay)
            for ema, live in zip(self.snapshot.buffers(), self.student.buffers(), strict=True):
                ema.copy_(live)

    @torch.no_grad()
    def on_epoch_end(self, epoch: int) -> None:
        if self.cfg.teacher == "snapshot":
            self.snapshot.load_state_dict(self.student.state_dict())
        self.epochs.increment()

    def output_model(self) -> BackboneModel:
        return self.student
