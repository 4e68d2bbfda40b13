"""SOKD: semi-online knowledge distillation with a knowledge bridge module (KBM). docs/methods/sokd.md.

Liu, Liu, Huang, "Semi-Online Knowledge Distillation", BMVC 2021, arXiv 2111.11747. Losses and stop-gradients are
[verified: code swlzq/Semi-Online-KD trainer/sokd.py] (see :class:`~ssl_kd.losses.SemiOnlineKDLoss`)::

    teacher (frozen): x -> ... -> f_b (tap ``kbm_branch``) -> remaining blocks -> pool -> fc -> z_T
    KBM (trainable):  sg(f_b) -> copy of the remaining blocks -> pool' -> fc' -> z_A
    L = L_KBM(z_A; y, sg z_T, sg z_S) + L_stu(z_S; y, sg z_A)        (one backward, one optimiser)

The student's target is the KBM, not the teacher. Switches for the two quirks of the official code:

* ``kbm_init: random`` (official: the copied layers are re-initialised by the global init loop) or ``teacher``
  (start from the teacher's trained weights).
* ``teacher_bn: train`` (official: ``self.teacher.train()``, so z_T and f_b use batch statistics) or ``eval``. With
  ``train`` the frozen teacher's running statistics drift; they are never read for z_T or f_b, and the teacher is
  not checkpointed, so resume stays exact.

[reconstruction] ``kbm_branch`` defaults to the teacher's second-to-last block (``layer3`` of a ResNet-18), the
analogue of the official ``feature_T[-3]``; the feature-based extension is not implemented.
"""

from __future__ import annotations

import copy
from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.errors import ConfigError
from ssl_kd.losses import SemiOnlineKDLoss
from ssl_kd.methods.base import MethodEnv, label_loss, register_method
from ssl_kd.methods.distillation import DistillationMethod
from ssl_kd.models import BackboneModel


class SOKDConfig(TrainStageConfig):
    """``method: sokd``. Defaults [verified: code configs/sokd.yaml]: tau = 4, every weight 1, official quirks."""

    method: Literal["sokd"] = "sokd"
    student: ModelSpec
    teacher: ModelSpec
    tau: float = Field(4.0, gt=0)
    kbm_branch: str | None = Field(None, description="teacher block feeding the KBM (default: second-to-last)")
    kbm_init: Literal["random", "teacher"] = "random"
    teacher_bn: Literal["train", "eval"] = "train"
    kbm_ce: float = Field(1.0, ge=0, description="official auxiliary_lambda_ce")
    kbm_kd_teacher: float = Field(1.0, ge=0, description="official auxiliary_lambda_kd_t")
    kbm_kd_student: float = Field(1.0, ge=0, description="official auxiliary_lambda_kd_s")
    student_ce: float = Field(1.0, ge=0, description="official lambda_ce")
    student_kd: float = Field(1.0, ge=0, description="official lambda_kd")


class KnowledgeBridge(nn.Module):
    """A copy of a teacher's blocks after ``branch``, its pool and its classifier, fed with the branch features.

    Args:
        teacher: the (trained) teacher to copy.
        branch: the teacher block whose output feeds the bridge.
        init: ``random`` re-initialises every copied layer (the official code's behaviour); ``teacher`` keeps the
            teacher's weights.
    """

    def __init__(self, teacher: BackboneModel, branch: str, init: Literal["random", "teacher"]) -> None:
        super().__init__()
        names = list(teacher.blocks)
        if branch not in names:
            raise ConfigError(f"kbm_branch {branch!r} is not a block of {teacher.arch}; blocks: {', '.join(names)}")
        after = names[names.index(branch) + 1 :]
        self.blocks = nn.Sequential(*(copy.deepcopy(teacher.blocks[name]) for name in after))
        self.pool = copy.deepcopy(teacher.pool)
        self.classifier = copy.deepcopy(teacher.classifier)
        self.requires_grad_(True)
        if init == "random":
            for module in self.modules():
                if module is not self and hasattr(module, "reset_parameters"):
                    module.reset_parameters()

    def forward(self, features: Tensor) -> Tensor:
        """Branch features -> logits z_A."""
        return self.classifier(self.pool(self.blocks(features)))


@register_method("sokd")
class SOKD(DistillationMethod):
    """Student + knowledge bridge trained against a frozen teacher; outputs the student."""

    config_class = SOKDConfig

    def __init__(self, cfg: SOKDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = env.load_model(cfg.student, env.facts.num_classes)
        self.load_teacher(cfg.teacher, env.facts.num_classes)
        self.branch = cfg.kbm_branch or list(self.teacher.blocks)[-2]
        self.kbm = KnowledgeBridge(self.teacher, self.branch, cfg.kbm_init)
        self.loss = SemiOnlineKDLoss(
            cfg.tau,
            cfg.kbm_ce,
            cfg.kbm_kd_teacher,
            cfg.kbm_kd_student,
            cfg.student_ce,
            cfg.student_kd,
            ce=label_loss(cfg),
        )

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        self.teacher.train(self.cfg.teacher_bn == "train")
        taps = self.teacher_forward(images, (self.branch, "logits"), via="forward_taps")
        self.teacher.eval()
        kbm_logits = self.kbm(taps[self.branch].detach())
        return self.loss(self.student(images), kbm_logits, taps["logits"], labels)

    def output_model(self) -> BackboneModel:
        return self.student
