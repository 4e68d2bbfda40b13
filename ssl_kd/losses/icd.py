"""ICD losses: the attention-masked feature-mimic loss and the auxiliary identification and localisation terms.

Kang, Zhang, Zhang, Sun, Jia, "Instance-Conditional Knowledge Distillation for Object Detection", NeurIPS 2021,
arXiv 2110.12724; docs/methods/icd.md [verified: code megvii-research/ICD, pytorch_release/models/distiller.py
(``mimic_loss``, the value mask) and models/utils.py (``InstanceEncoder.loss``)]. Shapes: B images, K instance
queries per image (real, fake, padding), h heads, S flattened FPN positions, c channels per head.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch.nn.functional as F
from torch import Tensor, nn

DistillNorm = Literal["ln", "tln", "none"]
DISTILL_NORMS: tuple[str, ...] = get_args(DistillNorm)


def instance_attention_mask(logits: Tensor, members: Tensor, temperature: float = 1.0) -> Tensor:
    """M[b, h, j] = Σ_{i ∈ members} softmax_j(A[b, h, i, :] / T): where the chosen queries look.

    Args:
        logits: the decoder's attention logits A over the teacher's FPN, (B, h, K, S).
        members: which queries enter the mask, (B, K) bool: the real instances (ground-truth boxes), the paper's
            default; or every valid query, real and fake, when negatives are distilled (the official code's
            ``DISTILL_NEGATIVE``). Padding queries are never members.
        temperature: T of the softmax.

    Returns: (B, h, S), without gradient.
    """
    weights = (logits.detach().float() / temperature).softmax(-1) * members[:, None, :, None]
    return weights.sum(2)


class AttentionMaskedMimicLoss(nn.Module):
    """λ · mean_{b,h} [ Σ_j M[b,h,j] · mean_c (LN(V_s) − LN(V_t))²[b,j,h,c] / Σ_j M[b,h,j] ].

    V_t are the teacher decoder's per-head values (its value projection of the teacher's FPN), V_s the same-shaped
    projection of the student's FPN; LN is a LayerNorm over each head's channels without affine parameters, applied
    to both sides (``norm="ln"``, the paper's code's default), to the teacher only (``"tln"``: the student's values
    must match the normalised teacher's in scale too) or to neither (``"none"``), the code's ``DISTILL_NORM``; M is
    :func:`instance_attention_mask` of the teacher decoder's logits over its member queries (the real instances, or
    real and fake ones when negatives are distilled). An image without members contributes zero. The teacher side and
    M carry no gradient.

    Args:
        weight: λ (8 in the paper's code).
        temperature: T of the mask's softmax (1 in the paper's code).
        norm: which sides are layer-normalised: ``"ln"`` both, ``"tln"`` the teacher's, ``"none"`` neither.
    """

    def __init__(self, weight: float = 8.0, temperature: float = 1.0, norm: DistillNorm = "ln") -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if norm not in DISTILL_NORMS:
            raise ValueError(f"norm must be one of {DISTILL_NORMS}, got {norm!r}")
        self.weight = weight
        self.temperature = temperature
        self.norm = norm

    def forward(self, student_values: Tensor, teacher_values: Tensor, logits: Tensor, members: Tensor) -> Tensor:
        """Args: student and teacher values (B, S, h, c); attention logits (B, h, K, S); the mask's members (B, K)
        bool.

        Returns: a scalar.
        """
        if student_values.shape != teacher_values.shape:
            raise ValueError(
                f"value shapes differ: student {tuple(student_values.shape)}, teacher {tuple(teacher_values.shape)}"
            )
        channels = student_values.shape[-1:]
        student, teacher = student_values.float(), teacher_values.detach().float()
        if self.norm != "none":
            teacher = F.layer_norm(teacher, channels)
        if self.norm == "ln":
            student = F.layer_norm(student, channels)
        error = (student - teacher).pow(2).mean(-1).transpose(1, 2)  # (B, h, S)
        mask = instance_attention_mask(logits, members, self.temperature)
        per_head = (mask * error).sum(-1) / mask.sum(-1).clamp(min=1e-6)
        return self.weight * per_head.mean()


class InstanceIdentificationLoss(nn.Module):
    """mean over valid queries of BCE(σ(conf), real?): the decoder tells real instances from sampled fake ones.

    Args: per-query confidence logits (B, K), real (B, K) bool, valid (B, K) bool (padding queries are False).
    """

    def forward(self, confidence: Tensor, real: Tensor, valid: Tensor) -> Tensor:
        bce = F.binary_cross_entropy_with_logits(confidence.float(), real.float(), reduction="none")
        valid = valid.float()
        return (bce * valid).sum() / valid.sum().clamp(min=1e-6)


class InstanceLocalisationLoss(nn.Module):
    """mean over real queries of Σ_{sides} |d̂ − d| / (d + d_opposite): the decoder finds the box around its point.

    d are the distances (left, top, right, bottom) from a query's reference point to its box's sides, relative to the
    image size; d + d_opposite is the box width (height), so every box weighs the same whatever its size.

    Args: predicted distances (B, K, 4) in [0, 1] (a sigmoid of the head), true distances (B, K, 4), real (B, K) bool.
    """

    def forward(self, predicted: Tensor, target: Tensor, real: Tensor) -> Tensor:
        extent = (target + target[..., [2, 3, 0, 1]]).clamp(min=1e-7)
        per_query = ((predicted.float() - target).abs() / extent).sum(-1)
        real = real.float()
        return (per_query * real).sum() / real.sum().clamp(min=1e-6)
