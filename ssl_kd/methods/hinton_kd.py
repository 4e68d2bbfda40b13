"""Hinton knowledge distillation from a frozen teacher. docs/methods/hinton_kd.md [verified: loss in others' code]."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.blocks.teacher_outputs import TeacherCache
from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.losses import SoftTargetKL
from ssl_kd.methods.base import MethodEnv, label_loss, register_method
from ssl_kd.methods.distillation import DistillationMethod
from ssl_kd.models import BackboneModel


class HintonKDConfig(TrainStageConfig):
    """``method: hinton_kd``. Defaults: tau = 4, ce_weight = kd_weight = 1 (as in SOKD's configs/sokd.yaml)."""

    method: Literal["hinton_kd"] = "hinton_kd"
    student: ModelSpec
    teacher: ModelSpec
    tau: float = Field(4.0, gt=0, description="softmax temperature")
    weighting: Literal["sum", "convex"] = Field(
        "sum", description="sum: ce_weight*CE + kd_weight*KD; convex: (1-alpha)*CE + alpha*KD"
    )
    ce_weight: float = Field(1.0, ge=0)
    kd_weight: float = Field(1.0, ge=0)
    alpha: float = Field(0.9, ge=0, le=1, description="KD share when weighting=convex")
    teacher_cache: bool = Field(
        False, description="run the teacher once per training sample and reuse its logits (needs data.augment: none)"
    )

    @model_validator(mode="after")
    def _cache_needs_fixed_inputs(self) -> HintonKDConfig:
        if self.teacher_cache and self.data.augment != "none":
            raise ValueError(
                f"teacher_cache: true needs data.augment: none (got {self.data.augment!r}): with augmentation the "
                "teacher sees a different image every epoch, so cached logits would be wrong"
            )
        return self


@register_method("hinton_kd")
class HintonKD(DistillationMethod):
    """L = w_ce * CE(z_s, y) + w_kd * tau^2 * KL(softmax(z_t/tau) || softmax(z_s/tau)).

    Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", arXiv 1503.02531. The teacher is frozen
    in eval mode and runs under inference mode; with ``weighting: convex`` the weights are (1 - alpha, alpha).
    With ``teacher_cache: true`` its logits are computed once per training sample and read back afterwards
    (:class:`~ssl_kd.blocks.teacher_outputs.TeacherCache`). On partly labelled data (``data.labelled_per_class``)
    CE covers the labelled samples and KD every sample (the unlabelled ones form Hinton's transfer set).
    """

    config_class = HintonKDConfig
    partial_labels = True

    def __init__(self, cfg: HintonKDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = env.load_model(cfg.student, env.facts.num_classes)
        self.load_teacher(cfg.teacher, env.facts.num_classes)
        self.teacher_cache = None
        if cfg.teacher_cache:
            if env.work_dir is None:
                raise ValueError("teacher_cache needs a stage folder (MethodEnv.work_dir)")
            self.teacher_cache = TeacherCache(
                env.work_dir / "teacher_cache", env.num_train_samples, env.facts.num_classes
            )
        self.soft_target = SoftTargetKL(cfg.tau)
        self.ce = label_loss(cfg)
        if cfg.weighting == "convex":
            self.ce_weight, self.kd_weight = 1.0 - cfg.alpha, cfg.alpha
        else:
            self.ce_weight, self.kd_weight = cfg.ce_weight, cfg.kd_weight

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        if self.teacher_cache is not None and self.sample_ids is not None:
            teacher_logits = self.teacher_cache(self.teacher, images, self.sample_ids)
        else:
            teacher_logits = self.teacher_forward(images)
        student_logits = self.student(images)
        return {
            "ce": self.ce_weight * self.ce(student_logits, labels),
            "kd": self.kd_weight * self.soft_target(student_logits, teacher_logits),
        }

    def output_model(self) -> BackboneModel:
        return self.student
