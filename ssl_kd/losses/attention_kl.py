"""Self-attention distribution KL (internal-representation distillation)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class AttentionKL(nn.Module):
    """KL(A^T || A^S) per attention row, averaged over batch, heads and query rows.

    Aguilar et al., "Knowledge Distillation from Internal Representations", AAAI-20, arXiv 1910.03723;
    docs/methods/internal_kd.md [third-party: the signal; reconstruction: normalisation]::

        L_att = 1 / (B * H * N) * sum_{b,h,i} sum_j A^T_hij * (log A^T_hij - log A^S_hij)

    with A = softmax(scores) over keys j. Both distributions come from pre-softmax *scores* through ``log_softmax``
    (never the log of probabilities). The teacher is detached. Images have no padding, so no mask is applied.

    Examples:
        >>> loss = AttentionKL()(student_scores, teacher_scores)  # (B, H, N, N) each
    """

    def forward(self, student_scores: Tensor, teacher_scores: Tensor) -> Tensor:
        """Args: pre-softmax attention scores (B, H, N, N) of student and teacher. Returns: a scalar."""
        if student_scores.shape != teacher_scores.shape:
            raise ValueError(
                f"attention shapes differ: student {tuple(student_scores.shape)}, "
                f"teacher {tuple(teacher_scores.shape)} (heads and tokens must match)"
            )
        log_s = F.log_softmax(student_scores.float(), dim=-1)
        log_t = F.log_softmax(teacher_scores.detach().float(), dim=-1)
        return (log_t.exp() * (log_t - log_s)).sum(dim=-1).mean()
