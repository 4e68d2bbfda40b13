"""SEED's soft cross-entropy between teacher and student similarity distributions over a queue."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.losses.info_nce import _check_temperature


class SimilarityDistillation(nn.Module):
    """L = -mean_i sum_j softmax([t_i.t_i, t_i.Q] / T_t)_j * log_softmax([s_i.t_i, s_i.Q] / T_s)_j.

    Fang et al., "SEED: Self-supervised Distillation for Visual Representation", ICLR 2021, arXiv 2101.04731;
    docs/methods/seed.md [verified: code jacobswan1/SEED seed/builder.py, tools/utils.py::soft_cross_entropy].
    ``t`` are the frozen teacher's normalised embeddings, ``s`` the student's (projected to the teacher's width),
    ``Q`` a queue of earlier teacher embeddings. The teacher softmax runs in float32 (T_t = 1e-4 is tiny).

    Args:
        student_temperature: T_s, default 0.2.
        teacher_temperature: T_t, default 1e-4.
    """

    def __init__(self, student_temperature: float = 0.2, teacher_temperature: float = 1e-4) -> None:
        super().__init__()
        _check_temperature(student_temperature)
        if teacher_temperature <= 0:
            raise ValueError(f"teacher_temperature must be positive, got {teacher_temperature}")
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature

    def forward(self, student: Tensor, teacher: Tensor, queue: Tensor) -> Tensor:
        """Args: student (B, D), teacher (B, D), teacher queue (K, D); all normalised. Returns: a scalar."""
        student, teacher, queue = student.float(), teacher.float(), queue.float()
        teacher_logits = [(teacher * teacher).sum(1, keepdim=True), teacher @ queue.T]
        student_logits = [(student * teacher).sum(1, keepdim=True), student @ queue.T]
        target = F.softmax(torch.cat(teacher_logits, 1) / self.teacher_temperature, dim=1)
        log_p = F.log_softmax(torch.cat(student_logits, 1) / self.student_temperature, dim=1)
        return -(target * log_p).sum(dim=1).mean()
