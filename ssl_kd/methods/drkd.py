"""DR-KD: teacher-free self-distillation from the student's earlier self, rectified by the labels. METHODS.md §4.

Amik, Tasin, Ahmed, Elahi, Mohammed, "Dynamic Rectification Knowledge Distillation", arXiv 2201.11319
[verified: abstract: self-teacher, rectification; third-party: the logit swap; reconstruction: the rest]::

    z = f_theta(x);  t = sg(f_snapshot(x));  t' = t with the wrongly predicted class's logit swapped with y's
    L = (1 - alpha) * CE(z, y) + alpha * tau^2 * KL(softmax(t' / tau) || softmax(z / tau))

The self-teacher is a *snapshot* of the student, never the same forward pass (that gives a zero gradient on every
correctly predicted sample, METHODS.md §4 pitfall; ``same_forward`` is therefore not offered):

* ``previous_epoch`` (default): a copy of the student's weights taken at the end of each epoch, run without
  gradients in eval mode. [reconstruction] METHODS.md's default records per-sample logits by sample id, but the
  engine's batches carry no sample ids, so the snapshot is re-run (one extra no-grad forward); the targets are the
  same up to the augmentation of the current pass.
* ``ema``: an exponential moving average of the student's weights (``ema_decay``, 0.999 [reconstruction]),
  updated after every optimiser step.
* ``pretrained``: a frozen earlier stage's model (``pretrained: {from: STAGE}``), the Tf-KD self-teacher.

For ``previous_epoch`` and ``ema`` the first ``ce_warmup_epochs`` epochs (default 1, METHODS.md's "KD term off in
epoch 0") train with plain CE (weight 1, [reconstruction]) because there is no earlier self yet. On short, low-data
budgets one CE epoch leaves a near-chance snapshot whose tau-6 targets are almost uniform, and with alpha 0.9 that
drives the student towards uniform predictions; raise ``ce_warmup_epochs`` (and lower ``alpha``/``tau``) there.
``pretrained`` self-teachers are already trained, so they teach from the first step. The snapshot is a registered
submodule without gradients; its weights and the epoch counter are checkpointed, so resume is exact.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.losses import RectifiedKDLoss
from ssl_kd.methods.base import Method, MethodEnv, register_method
from ssl_kd.methods.epoch_counter import EpochCounter
from ssl_kd.models import BackboneModel


class DRKDConfig(TrainStageConfig):
    """``method: drkd``. Defaults [reconstruction]: previous-epoch snapshot, swap, alpha 0.9, tau 6, 1 CE-only epoch."""

    method: Literal["drkd"] = "drkd"
    student: ModelSpec
    teacher: Literal["previous_epoch", "ema", "pretrained"] = "previous_epoch"
    pretrained: ModelSpec | None = Field(None, description="the self-teacher when teacher=pretrained")
    ema_decay: float = Field(0.999, gt=0, lt=1, description="EMA decay per step when teacher=ema")
    rectify: Literal["swap", "none"] = "swap"
    ce_warmup_epochs: int = Field(
        1, ge=0, description="epochs of plain CE before a previous_epoch/ema snapshot starts teaching"
    )
    alpha: float = Field(0.9, ge=0, le=1)
    tau: float = Field(6.0, gt=0)

    @model_validator(mode="after")
    def _pretrained_given(self) -> DRKDConfig:
        if (self.teacher == "pretrained") != (self.pretrained is not None):
            raise ValueError("give 'pretrained: {from: STAGE}' exactly when teacher is 'pretrained'")
        return self


@register_method("drkd")
class DRKD(Method):
    """Student distilled from its own snapshot (or a pretrained copy) with rectified targets; outputs the student."""

    config_class = DRKDConfig

    def __init__(self, cfg: DRKDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = env.load_model(cfg.student, env.num_classes)
        if cfg.teacher == "pretrained":
            self.snapshot = env.load_model(cfg.pretrained, env.num_classes)
            self.freeze("snapshot")
        else:
            self.snapshot = copy.deepcopy(self.student).requires_grad_(False).eval()
        self.epochs = EpochCounter()
        self.loss = RectifiedKDLoss(cfg.alpha, cfg.tau, cfg.rectify)

    def train(self, mode: bool = True) -> DRKD:
        super().train(mode)
        self.snapshot.eval()
        return self

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        logits = self.student(images)
        if self.cfg.teacher != "pretrained" and self.epochs.value < self.cfg.ce_warmup_epochs:
            return {"ce": F.cross_entropy(logits, labels)}
        with torch.no_grad():
            teacher_logits = self.snapshot(images)
        return self.loss(logits, teacher_logits, labels)

    @torch.no_grad()
    def on_step_end(self, step: int) -> None:
        if self.cfg.teacher == "ema":
            for ema, live in zip(self.snapshot.parameters(), self.student.parameters(), strict=True):
                ema.lerp_(live, 1.0 - self.cfg.ema_decay)
            for ema, live in zip(self.snapshot.buffers(), self.student.buffers(), strict=True):
                ema.copy_(live)

    @torch.no_grad()
    def on_epoch_end(self, epoch: int) -> None:
        if self.cfg.teacher == "previous_epoch":
            self.snapshot.load_state_dict(self.student.state_dict())
        self.epochs.increment()

    def output_model(self) -> BackboneModel:
        return self.student
