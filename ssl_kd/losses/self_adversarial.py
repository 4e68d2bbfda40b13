"""Self-adversarial negative sampling loss of RotatE (docs/methods/kge.md)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SelfAdversarialLoss(nn.Module):
    """L = -log σ(f_pos) - Σ_k p_k log σ(-f_neg_k), p = softmax(α f_neg) with no gradient, per positive triple.

    Sun et al., "RotatE: Knowledge Graph Embedding by Relational Rotation in Complex Space", ICLR 2019,
    arXiv 1902.10197, Eq. 5; docs/methods/kge.md. Scores are plausibilities that already include the margin
    (distance models: f = gamma - d), so the paper's -log σ(γ - d) is -log σ(f). ``adversarial=False`` gives the
    uniform weights p_k = 1/K of plain negative sampling.

    Correspondence: the RotatE code and pykeen's ``NSSALoss`` average the positive and negative parts, i.e.
    ``NSSALoss(margin=0, adversarial_temperature=α)(f_pos, f_neg) == 0.5 * SelfAdversarialLoss(α)(f_pos, f_neg)``;
    with pykeen's RotatE scores (-d, no gamma) use ``margin=gamma`` instead.

    Args:
        adversarial_temperature: α, the inverse softmax temperature of the weights (default 1.0).
        adversarial: self-adversarial weights (default) or uniform 1/K.
        reduction: ``"mean"`` over positives (a scalar) or ``"none"`` (the per-positive (B,) loss).
    """

    def __init__(
        self,
        adversarial_temperature: float = 1.0,
        adversarial: bool = True,
        reduction: Literal["mean", "none"] = "mean",
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        if adversarial and adversarial_temperature <= 0:
            raise ValueError(f"adversarial_temperature must be positive, got {adversarial_temperature}")
        self.adversarial_temperature = float(adversarial_temperature)
        self.adversarial = bool(adversarial)
        self.reduction = reduction

    def weights(self, negative: Tensor) -> Tensor:
        """p (B, K): softmax(α f_neg) over the negatives of each positive, detached; or 1/K."""
        if not self.adversarial:
            return torch.full_like(negative, 1.0 / negative.shape[1])
        return torch.softmax(self.adversarial_temperature * negative.detach(), dim=1)

    def terms(self, positive: Tensor, negative: Tensor) -> tuple[Tensor, Tensor]:
        """Per-triple terms: pos_term (B,) = -log σ(f_pos), neg_terms (B, K) = -p_k log σ(-f_neg_k).

        ``pos_term + neg_terms.sum(1)`` is the per-positive loss; DualDE-style methods weight each term.
        """
        if positive.ndim != 1 or negative.ndim != 2 or negative.shape[0] != positive.shape[0]:
            raise ValueError(
                f"expected positive (B,) and negative (B, K) scores, got {tuple(positive.shape)} and "
                f"{tuple(negative.shape)}"
            )
        positive, negative = positive.float(), negative.float()
        return -F.logsigmoid(positive), -self.weights(negative) * F.logsigmoid(-negative)

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        """Args: positive scores (B,), negative scores (B, K). Returns: the mean loss, or (B,) if reduction="none"."""
        pos_term, neg_terms = self.terms(positive, negative)
        loss = pos_term + neg_terms.sum(dim=1)
        return loss.mean() if self.reduction == "mean" else loss
