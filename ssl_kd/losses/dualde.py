"""DualDE losses: soft-label evaluation weights, structure terms and the per-triple soft/hard mixture.

Zhu, Zhang, Chen, et al., "DualDE: Dually Distilling Knowledge Graph Embedding for Faster and Cheaper Reasoning",
WSDM 2022, arXiv 2009.05912; docs/methods/dualde.md. Everything works on plain tensors: a method computes each
model's scores and entity vectors once (a :class:`KGScores`) and calls :class:`DualDELoss` for the student
(stages 1 and 2) and, with the roles swapped, for the teacher (stage 2). [reconstruction: the formulas follow
the project notes on the paper; no reference code was checked.]
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ScoreTransform = Literal["sigmoid", "raw"]
SoftWeightMode = Literal["learnable", "constant"]


@dataclass(frozen=True)
class KGScores:
    """One model's scores and entity vectors for B positives with K negatives each.

    Scores are "higher = more plausible" (distance models: gamma - d). Entity vectors are the models' real views
    (RotatE/ComplEx: real and imaginary parts concatenated along the last dimension).

    Attributes:
        pos: scores of the positives, (B,).
        neg: scores of the negatives, (B, K).
        head_pos, tail_pos: head and tail vectors of the positives, (B, D).
        head_neg, tail_neg: head and tail vectors of the negatives, (B, K, D).
        pos_structure, neg_structure: precomputed ``structure(head, tail)`` = ``(cos, ratio)`` of the positives
            (B,) and negatives (B, K), e.g. looked up from a frozen teacher's cache; the vectors may then be None.
    """

    pos: Tensor
    neg: Tensor
    head_pos: Tensor | None
    tail_pos: Tensor | None
    head_neg: Tensor | None
    tail_neg: Tensor | None
    pos_structure: tuple[Tensor, Tensor] | None = None
    neg_structure: tuple[Tensor, Tensor] | None = None

    def __post_init__(self) -> None:
        if self.pos.dim() != 1 or self.neg.dim() != 2 or self.neg.shape[0] != self.pos.shape[0]:
            raise ValueError(
                f"KGScores needs pos (B,) and neg (B, K), got {tuple(self.pos.shape)}, {tuple(self.neg.shape)}"
            )
        if self.pos_structure is None:
            if self.head_pos is None or self.tail_pos is None:
                raise ValueError("KGScores needs head_pos/tail_pos vectors or pos_structure")
            if self.head_pos.shape != self.tail_pos.shape or self.head_pos.shape[:-1] != self.pos.shape:
                raise ValueError(f"head_pos/tail_pos must be (B, D), got {tuple(self.head_pos.shape)}")
        if self.neg_structure is None:
            if self.head_neg is None or self.tail_neg is None:
                raise ValueError("KGScores needs head_neg/tail_neg vectors or neg_structure")
            if self.head_neg.shape != self.tail_neg.shape or self.head_neg.shape[:-1] != self.neg.shape:
                raise ValueError(f"head_neg/tail_neg must be (B, K, D), got {tuple(self.head_neg.shape)}")

    def detach(self) -> KGScores:
        """The same scores and vectors with no gradient (used as targets)."""

        def cut(value: Any) -> Any:
            if isinstance(value, tuple):
                return tuple(part.detach() for part in value)
            return None if value is None else value.detach()

        return KGScores(*(cut(getattr(self, f.name)) for f in fields(self)))

    def structures(self, features: StructureTerms) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """``((cos, ratio) of the positives, (cos, ratio) of the negatives)``: precomputed, or from the vectors."""
        pos = self.pos_structure if self.pos_structure is not None else features(self.head_pos, self.tail_pos)
        neg = self.neg_structure if self.neg_structure is not None else features(self.head_neg, self.tail_neg)
        return pos, neg


def structure(e_h: Tensor, e_t: Tensor, complex_parts: bool = False, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """DualDE's structure features of (head, tail) vector pairs: ``cos(e_h, e_t)`` and ``‖e_h‖ / ‖e_t‖``.

    arXiv 2009.05912 (docs/methods/dualde.md). With ``complex_parts`` the last dimension is split in halves
    (real, imaginary) and each feature is the mean of the two parts' features (the ComplEx variant).

    Args:
        e_h, e_t: vectors of shape (..., D) (D even with ``complex_parts``).
        eps: guards the cosine denominators and the tail norm.

    Returns:
        ``(cos, ratio)``, both of shape (...).
    """
    if complex_parts:
        if e_h.shape[-1] % 2:
            raise ValueError(f"complex_parts needs an even last dimension, got {e_h.shape[-1]}")
        parts = [structure(h, t, eps=eps) for h, t in zip(e_h.chunk(2, dim=-1), e_t.chunk(2, dim=-1), strict=True)]
        return (parts[0][0] + parts[1][0]) / 2, (parts[0][1] + parts[1][1]) / 2
    cos = F.cosine_similarity(e_h, e_t, dim=-1, eps=eps)
    ratio = e_h.norm(dim=-1) / e_t.norm(dim=-1).clamp_min(eps)
    return cos, ratio


class StructureTerms(nn.Module):
    """``structure`` as a module: ``forward(e_h, e_t) -> (cos, ratio)`` (see :func:`structure`)."""

    def __init__(self, complex_parts: bool = False, eps: float = 1e-8) -> None:
        super().__init__()
        self.complex_parts = complex_parts
        self.eps = eps

    def forward(self, e_h: Tensor, e_t: Tensor) -> tuple[Tensor, Tensor]:
        """``(cos, ratio)`` of shape (...) for vectors (..., D)."""
        return structure(e_h, e_t, self.complex_parts, self.eps)


class SoftLabelWeight(nn.Module):
    """DualDE's soft-label evaluation: per-triple weight of the soft (teacher) label.

    arXiv 2009.05912 (docs/methods/dualde.md), with ``f`` the *other* model's (detached) score::

        positives: w = σ(a_p · (f + b_p))       a high-scored positive -> trust the soft label
        negatives: w = σ(−a_n · (f + b_n))      a low-scored negative  -> trust the soft label

    [reconstruction: our project notes give w = σ(a(f + b)) with separate (a, b) pairs for positives and
    negatives; the sign flip for negatives, so that a confidently negative triple is trusted, is our reading.]
    Learnable mode starts at a = 1, b = 0; constant mode returns ``value`` everywhere and has no parameters.

    Args:
        mode: ``"learnable"`` or ``"constant"``.
        value: the constant weight (constant mode), in [0, 1].
    """

    def __init__(self, mode: SoftWeightMode = "learnable", value: float = 0.5) -> None:
        super().__init__()
        if mode not in ("learnable", "constant"):
            raise ValueError(f"soft_weight must be 'learnable' or 'constant', got {mode!r}")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"soft_weight_value must lie in [0, 1], got {value}")
        self.mode = mode
        self.value = value
        if mode == "learnable":
            self.a_pos = nn.Parameter(torch.ones(()))
            self.b_pos = nn.Parameter(torch.zeros(()))
            self.a_neg = nn.Parameter(torch.ones(()))
            self.b_neg = nn.Parameter(torch.zeros(()))

    def forward(self, source_pos: Tensor, source_neg: Tensor) -> tuple[Tensor, Tensor]:
        """``(w_pos (B,), w_neg (B, K))`` from the source model's scores (detached here)."""
        source_pos, source_neg = source_pos.detach(), source_neg.detach()
        if self.mode == "constant":
            return torch.full_like(source_pos, self.value), torch.full_like(source_neg, self.value)
        w_pos = torch.sigmoid(self.a_pos * (source_pos + self.b_pos))
        w_neg = torch.sigmoid(-self.a_neg * (source_neg + self.b_neg))
        return w_pos, w_neg


class DualDELoss(nn.Module):
    """One model's DualDE objective: per triple, ``w · L_soft + (1 − w) · L_hard``, averaged over positives.

    arXiv 2009.05912 (docs/methods/dualde.md). For the trained model ("learner", scores f, vectors e) and the
    other model ("target", detached, scores f*, vectors e*), per triple τ with s = σ (``score_transform="sigmoid"``)
    or the identity (``"raw"``) and H the Huber loss with δ = ``huber_delta``::

        L_soft(τ) = λ_s H(s f*(τ), s f(τ)) + λ_c H(cos(e*_h, e*_t), cos(e_h, e_t)) + λ_n H(‖e*_h‖/‖e*_t‖, ‖e_h‖/‖e_t‖)
        L_hard(pos) = −log σ(f_pos)
        L_hard(neg_j) = −p_j log σ(−f_neg_j),   p = softmax(α · f_neg) over the K negatives, detached
        L = mean_B [ w_pos L_soft(pos) + (1 − w_pos) L_hard(pos)
                     + Σ_j ( w_neg_j L_soft(neg_j) / K + (1 − w_neg_j) L_hard(neg_j) ) ]

    with (w_pos, w_neg) from :class:`SoftLabelWeight` on the *target's* scores. [reconstruction: how the K
    negatives of a positive share its budget — soft terms averaged over K, hard terms weighted by the
    self-adversarial p — is our reading of "Σ_τ over positives and their negatives".]

    Stage 1 (teacher frozen): ``student_loss(learner=student, target=teacher)``. Stage 2 adds
    ``teacher_loss(learner=teacher, target=student)`` — a second instance, so the teacher has its own weight
    parameters, and w_T comes from the student's scores.

    Note: with learnable weights the learner can lower the loss by moving w towards the smaller of the two
    terms; the weight parameters are trained with the learner (they are this module's parameters).

    Args:
        score_transform: ``"sigmoid"`` (Huber on σ f) or ``"raw"`` (Huber on f).
        soft_weight: ``"learnable"`` or ``"constant"``; ``soft_weight_value`` is the constant.
        score_weight, cosine_weight, norm_weight: λ_s, λ_c, λ_n (all 1).
        adversarial_temperature: α of the self-adversarial negative weights (1).
        complex_parts: structure terms on real and imaginary halves separately, averaged (ComplEx).
        huber_delta: δ (1).

    Examples:
        >>> terms = DualDELoss()(student_scores, teacher_scores)
        >>> sorted(terms), sum(terms.values())  # ['hard', 'soft'], the loss
    """

    def __init__(
        self,
        score_transform: ScoreTransform = "sigmoid",
        soft_weight: SoftWeightMode = "learnable",
        soft_weight_value: float = 0.5,
        score_weight: float = 1.0,
        cosine_weight: float = 1.0,
        norm_weight: float = 1.0,
        adversarial_temperature: float = 1.0,
        complex_parts: bool = False,
        huber_delta: float = 1.0,
    ) -> None:
        super().__init__()
        if score_transform not in ("sigmoid", "raw"):
            raise ValueError(f"score_transform must be 'sigmoid' or 'raw', got {score_transform!r}")
        self.score_transform = score_transform
        self.weight = SoftLabelWeight(soft_weight, soft_weight_value)
        self.structure = StructureTerms(complex_parts)
        self.score_weight = score_weight
        self.cosine_weight = cosine_weight
        self.norm_weight = norm_weight
        self.adversarial_temperature = adversarial_temperature
        self.huber_delta = huber_delta

    def _transform(self, scores: Tensor) -> Tensor:
        return torch.sigmoid(scores) if self.score_transform == "sigmoid" else scores

    def _huber(self, target: Tensor, value: Tensor) -> Tensor:
        return F.huber_loss(value, target, reduction="none", delta=self.huber_delta)

    def soft_terms(
        self,
        learner_scores: Tensor,
        target_scores: Tensor,
        learner_structure: tuple[Tensor, Tensor],
        target_structure: tuple[Tensor, Tensor],
    ) -> Tensor:
        """Per-triple L_soft (shape of the scores) from both models' scores and ``(cos, ratio)`` features; the
        target side is detached."""
        cos, ratio = learner_structure
        cos_t, ratio_t = (feature.detach() for feature in target_structure)
        return (
            self.score_weight * self._huber(self._transform(target_scores.detach()), self._transform(learner_scores))
            + self.cosine_weight * self._huber(cos_t, cos)
            + self.norm_weight * self._huber(ratio_t, ratio)
        )

    def forward(self, learner: KGScores, target: KGScores) -> dict[str, Tensor]:
        """``{"soft", "hard"}``: weighted terms (mean over the B positives) whose sum is the learner's loss.

        Args:
            learner: scores and vectors of the model being trained (gradients flow).
            target: the other model's scores and vectors (detached; also the source of the soft weights).
        """
        if learner.neg.shape != target.neg.shape:
            raise ValueError(
                f"learner and target need the same (B, K), got {tuple(learner.neg.shape)} and {tuple(target.neg.shape)}"
            )
        w_pos, w_neg = self.weight(target.pos, target.neg)
        (learner_pos, learner_neg), (target_pos, target_neg) = (
            learner.structures(self.structure),
            target.structures(self.structure),
        )
        soft_pos = self.soft_terms(learner.pos, target.pos, learner_pos, target_pos)
        soft_neg = self.soft_terms(learner.neg, target.neg, learner_neg, target_neg)
        adversarial = torch.softmax(self.adversarial_temperature * learner.neg.detach(), dim=-1)
        hard_pos = -F.logsigmoid(learner.pos)
        hard_neg = -adversarial * F.logsigmoid(-learner.neg)
        num_neg = learner.neg.shape[1]
        soft = w_pos * soft_pos + (w_neg * soft_neg).sum(dim=1) / num_neg
        hard = (1 - w_pos) * hard_pos + ((1 - w_neg) * hard_neg).sum(dim=1)
        return {"soft": soft.mean(), "hard": hard.mean()}
