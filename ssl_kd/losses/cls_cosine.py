"""[CLS] representation cosine loss (internal-representation distillation)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class CLSCosineLoss(nn.Module):
    """1 - cos(h^T_[CLS], h^S_[CLS]), averaged over the batch.

    Aguilar et al., "Knowledge Distillation from Internal Representations", AAAI-20, arXiv 1910.03723;
    docs/methods/internal_kd.md [third-party: the signal]. The teacher state is detached.

    Examples:
        >>> loss = CLSCosineLoss()(student_cls, teacher_cls)  # (B, D) each
    """

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Args: [CLS] hidden states (B, D) of student and teacher. Returns: a scalar."""
        if student.shape != teacher.shape:
            raise ValueError(f"[CLS] shapes differ: student {tuple(student.shape)}, teacher {tuple(teacher.shape)}")
        return (1.0 - F.cosine_similarity(student.float(), teacher.detach().float(), dim=-1)).mean()
