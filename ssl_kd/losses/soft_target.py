"""Soft-target distillation loss (Hinton KD)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SoftTargetKL(nn.Module):
    """tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau)), averaged over the batch.

    Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", arXiv 1503.02531;
    docs/methods/hinton_kd.md [verified: loss in swlzq/Semi-Online-KD kd_losses/st.py]. The tau^2 factor keeps the
    gradient scale independent of the temperature.

    Args:
        tau: softmax temperature, > 0.

    Examples:
        >>> loss = SoftTargetKL(tau=4.0)
        >>> value = loss(student_logits, teacher_logits.detach())
    """

    def __init__(self, tau: float = 4.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be positive, got {tau}")
        self.tau = tau

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Args: student and teacher logits of shape (B, C). Returns: a scalar."""
        log_p_student = F.log_softmax(student.float() / self.tau, dim=1)
        log_p_teacher = F.log_softmax(teacher.float() / self.tau, dim=1)
        kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
        return self.tau**2 * kl
