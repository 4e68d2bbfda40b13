"""FitNets hint (feature) distillation with learned adapters, layers chosen by tap name.

Romero, Ballas, Kahou, Chassang, Gatta, Bengio, "FitNets: Hints for Thin Deep Nets", ICLR 2015, arXiv 1412.6550
(docs/methods/hint.md; the loss follows the paper, the adapters and weights are [reconstruction])::

    L = hint_weight * sum_pairs 0.5 * mean((r_p(v_p) - sg u_p)^2) + ce_weight * CE(z_s, y)
        + kd_weight * tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau))

``v_p`` is the student's tap ``pairs[p].student`` and ``u_p`` the frozen teacher's tap ``pairs[p].teacher`` (any of
``tap_names``: block names, ``features``). The adapter r_p is learned: a 1x1 conv plus average-pool / bilinear
resize between feature maps, a linear layer between vectors or token sequences. A name that is not a tap stops the
stage before training with the model's valid tap names.

The paper's two stages are two pipeline stages: ``hint`` with ``ce_weight: 0`` (hint training of the student up to
its guided layer), then ``hinton_kd`` with ``student: {from: hint}``; ``pipelines/kd_zoo_digits.yaml`` shows both.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from ssl_kd.config.schema import ModelSpec, Strict, TrainStageConfig
from ssl_kd.errors import ConfigError
from ssl_kd.losses import HintLoss, SoftTargetKL
from ssl_kd.methods.base import MethodEnv, label_loss, register_method
from ssl_kd.methods.distillation import DistillationMethod
from ssl_kd.models import BackboneModel


class HintPair(Strict):
    """One guided (student) layer and the teacher hint layer it regresses, by tap name."""

    student: str
    teacher: str


class HintConfig(TrainStageConfig):
    """``method: hint``. Defaults [reconstruction]: hint + CE with weights 1, no output KD."""

    method: Literal["hint"] = "hint"
    student: ModelSpec
    teacher: ModelSpec
    pairs: list[HintPair] = Field(min_length=1, description="student/teacher tap names to match")
    hint_weight: float = Field(1.0, ge=0)
    ce_weight: float = Field(1.0, ge=0)
    kd_weight: float = Field(0.0, ge=0, description="optional output KD term")
    tau: float = Field(4.0, gt=0)


class HintAdapter(nn.Module):
    """Maps a student tap of shape ``source`` onto a teacher tap of shape ``target`` (shapes without batch)."""

    def __init__(self, source: torch.Size, target: torch.Size) -> None:
        super().__init__()
        if len(source) != len(target) or (len(source) == 2 and source[0] != target[0]):
            raise ConfigError(f"cannot adapt a student tap of shape {tuple(source)} to a teacher tap {tuple(target)}")
        self.size = tuple(target[1:])
        if len(source) == 3:
            self.proj: nn.Module = nn.Conv2d(source[0], target[0], kernel_size=1)
        else:
            self.proj = nn.Linear(source[-1], target[-1])

    def forward(self, x: Tensor) -> Tensor:
        """Student feature -> the teacher feature's shape."""
        x = self.proj(x)
        if x.ndim != 4 or tuple(x.shape[2:]) == self.size:
            return x
        if x.shape[2] >= self.size[0]:
            return F.adaptive_avg_pool2d(x, self.size)
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)


def tap_shapes(model: BackboneModel, names: list[str], image_size: int, where: str) -> list[torch.Size]:
    """Per-sample output shapes of ``names`` on a dummy batch; unknown names raise ConfigError naming ``where``."""
    try:
        model._check_taps(names)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    channels = int(model.options.get("in_channels", 3))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        taps = model.forward_taps(torch.zeros(2, channels, image_size, image_size), names)
    model.train(was_training)
    return [taps[name].shape[1:] for name in names]


@register_method("hint")
class Hint(DistillationMethod):
    """Student regresses frozen-teacher taps through learned adapters; outputs the student."""

    config_class = HintConfig
    find_unused_parameters = True  # student blocks after the deepest hint (and the head if ce_weight=0) get no grad

    def __init__(self, cfg: HintConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = env.load_model(cfg.student, env.facts.num_classes)
        self.load_teacher(cfg.teacher, env.facts.num_classes)
        size = cfg.data.image_size
        self.student_taps = [pair.student for pair in cfg.pairs]
        self.teacher_taps = [pair.teacher for pair in cfg.pairs]
        sources = tap_shapes(self.student, self.student_taps, size, f"stage {cfg.name!r}: pairs[].student")
        targets = tap_shapes(self.teacher, self.teacher_taps, size, f"stage {cfg.name!r}: pairs[].teacher")
        self.adapters = nn.ModuleList(HintAdapter(s, t) for s, t in zip(sources, targets, strict=True))
        self.hint = HintLoss()
        self.soft_target = SoftTargetKL(cfg.tau)
        self.ce = label_loss(cfg)

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        outputs = ["logits"] if self.cfg.ce_weight or self.cfg.kd_weight else []
        teacher = self.teacher_forward(images, [*self.teacher_taps, *outputs], via="forward_taps")
        student = self.student.forward_taps(images, [*self.student_taps, *outputs])
        hints = [
            self.hint(adapter(student[s_name]), teacher[t_name])
            for adapter, s_name, t_name in zip(self.adapters, self.student_taps, self.teacher_taps, strict=True)
        ]
        terms = {"hint": self.cfg.hint_weight * torch.stack(hints).sum()}
        if self.cfg.ce_weight:
            terms["ce"] = self.cfg.ce_weight * self.ce(student["logits"], labels)
        if self.cfg.kd_weight:
            terms["kd"] = self.cfg.kd_weight * self.soft_target(student["logits"], teacher["logits"])
        return terms

    def output_model(self) -> BackboneModel:
        return self.student
