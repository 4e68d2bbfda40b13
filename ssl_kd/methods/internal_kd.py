"""Knowledge distillation from internal representations (attention maps and [CLS] states). docs/methods/internal_kd.md.

Aguilar, Ling, Zhang, Yao, Fan, Guo, "Knowledge Distillation from Internal Representations", AAAI-20,
arXiv 1910.03723 [third-party: signals and algorithms; reconstruction: normalisation, layer map, stage lengths,
weights]. For mapped layer pairs (student l, teacher m(l))::

    L_att(l) = KL(A^T_m(l) || A^S_l)        (AttentionKL, from pre-softmax scores)
    L_cls(l) = 1 - cos(h^T_m(l),[CLS], h^S_l,[CLS])
    L_out    = ce_weight * CE(z_S, y) + kd_weight * tau^2 * KL(softmax(z_T / tau) || softmax(z_S / tau))

Algorithms (``algorithm``):

* ``all_layers``: every step uses sum_l (L_att(l) + L_cls(l)) + L_out.
* ``pid`` (progressive): epochs are split into phases of ``epochs_per_layer``; phase k (bottom-up) uses only
  layer k's internal losses, and the epochs after the last layer's phase use L_out.
* ``sid`` (stacked): as ``pid``, but phase k uses the sum over layers 1..k.

The phase is a function of the epoch counter, which is checkpointed, so resume is exact inside any phase.
``layer_map`` maps student layers to teacher layers (1-based); the default maps student layer l of L_S to teacher
layer round(l * L_T / L_S) (l -> 2l for a 2-layer student of a 4-layer teacher). Attention maps need equal heads
and token counts, [CLS] states equal widths. Both models must offer ``forward_attention`` (see
:mod:`ssl_kd.models.vit`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor

from ssl_kd.blocks.epoch_counter import EpochCounter
from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.errors import ConfigError
from ssl_kd.losses import AttentionKL, CLSCosineLoss, SoftTargetKL
from ssl_kd.methods.base import MethodEnv, label_loss, register_method
from ssl_kd.methods.distillation import DistillationMethod
from ssl_kd.models import BackboneModel


class InternalKDConfig(TrainStageConfig):
    """``method: internal_kd``. Defaults [reconstruction]: all layers, both signals, weights 1, tau 4."""

    method: Literal["internal_kd"] = "internal_kd"
    student: ModelSpec
    teacher: ModelSpec
    algorithm: Literal["all_layers", "pid", "sid"] = "all_layers"
    signals: Literal["att_cls", "att", "cls"] = "att_cls"
    layer_map: dict[int, int] | None = Field(None, description="student layer -> teacher layer, 1-based")
    epochs_per_layer: int = Field(1, ge=1, description="phase length of pid/sid")
    att_weight: float = Field(1.0, ge=0)
    cls_weight: float = Field(1.0, ge=0)
    ce_weight: float = Field(1.0, ge=0)
    kd_weight: float = Field(1.0, ge=0)
    tau: float = Field(4.0, gt=0)


def default_layer_map(student_layers: int, teacher_layers: int) -> dict[int, int]:
    """Student layer l -> teacher layer round(l * L_T / L_S), 1-based (l -> 2l when the teacher is twice as deep)."""
    return {layer: round(layer * teacher_layers / student_layers) for layer in range(1, student_layers + 1)}


def phase_layers(algorithm: str, pairs: list[tuple[int, int]], epoch: int, per_layer: int) -> list[tuple[int, int]]:
    """The layer pairs trained in ``epoch`` (empty: the output-KD phase; all pairs for ``all_layers``)."""
    if algorithm == "all_layers":
        return pairs
    phase = epoch // per_layer
    if phase >= len(pairs):
        return []
    return pairs[phase : phase + 1] if algorithm == "pid" else pairs[: phase + 1]


def _attention_layers(model: BackboneModel, role: str) -> int:
    """The number of attention layers of ``model``; ConfigError when it does not expose attention maps."""
    if not hasattr(model, "forward_attention"):
        raise ConfigError(f"internal_kd: the {role} ({model.arch}) does not expose attention maps; use e.g. arch 'vit'")
    return model.num_layers


@register_method("internal_kd")
class InternalKD(DistillationMethod):
    """Student transformer matches the frozen teacher's attention maps and [CLS] states; outputs the student."""

    config_class = InternalKDConfig
    find_unused_parameters = True  # PID/SID train a growing stack of layers; the rest get no gradient

    def __init__(self, cfg: InternalKDConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.student = env.load_model(cfg.student, env.facts.num_classes)
        self.load_teacher(cfg.teacher, env.facts.num_classes)
        self.pairs = self._pairs(cfg)
        self.epochs = EpochCounter()
        self.attention_kl, self.cls_cosine = AttentionKL(), CLSCosineLoss()
        self.soft_target = SoftTargetKL(cfg.tau)
        self.ce = label_loss(cfg)

    def _pairs(self, cfg: InternalKDConfig) -> list[tuple[int, int]]:
        """Validated (student layer, teacher layer) pairs, bottom-up."""
        student_layers = _attention_layers(self.student, "student")
        teacher_layers = _attention_layers(self.teacher, "teacher")
        mapping = cfg.layer_map or default_layer_map(student_layers, teacher_layers)
        for s, t in mapping.items():
            if not (1 <= s <= student_layers and 1 <= t <= teacher_layers):
                raise ConfigError(
                    f"stage {cfg.name!r}: layer_map {s}: {t} is out of range "
                    f"(student has {student_layers} layers, teacher {teacher_layers})"
                )
        pairs = sorted(mapping.items())
        if cfg.algorithm != "all_layers" and cfg.epochs <= len(pairs) * cfg.epochs_per_layer:
            raise ConfigError(
                f"stage {cfg.name!r}: {cfg.algorithm} needs epochs > {len(pairs)} layers x epochs_per_layer "
                f"{cfg.epochs_per_layer}, leaving epochs for the output-KD phase"
            )
        return pairs

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        teacher = self.teacher_forward(images, via="forward_attention")
        student = self.student.forward_attention(images)
        cfg = self.cfg
        layers = phase_layers(cfg.algorithm, self.pairs, self.epochs.value, cfg.epochs_per_layer)
        terms: dict[str, Tensor] = {}
        for s, t in layers:
            if cfg.signals in ("att_cls", "att"):
                terms[f"att_{s}"] = cfg.att_weight * self.attention_kl(student.scores[s - 1], teacher.scores[t - 1])
            if cfg.signals in ("att_cls", "cls"):
                terms[f"cls_{s}"] = cfg.cls_weight * self.cls_cosine(student.cls[s - 1], teacher.cls[t - 1])
        if cfg.algorithm == "all_layers" or not layers:
            terms["ce"] = cfg.ce_weight * self.ce(student.logits, labels)
            terms["kd"] = cfg.kd_weight * self.soft_target(student.logits, teacher.logits)
        return terms

    def on_epoch_end(self, epoch: int) -> None:
        self.epochs.increment()

    def output_model(self) -> BackboneModel:
        return self.student
