"""Relation losses of ReKD (reconstruction): multi-positive contrast and relation-distribution KL."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.losses.info_nce import _check_temperature, contrast_logits


class MultiPositiveContrast(nn.Module):
    """L = mean_i -1/|P(i)| sum_{p in P(i)} log[ exp(q_i.k_p / T) / sum_{a in A(i)} exp(q_i.k_a / T) ].

    Zheng, Wang, Yuan, "Boosting Contrastive Learning with Relation Knowledge Distillation", AAAI-22,
    arXiv 2112.04174; docs/methods/rekd.md, ``relation_loss: supcon`` [reconstruction]: the teacher's relations act as
    the labels of supervised contrastive learning. A(i) = {k_i} + the queue; P(i) is given by ``positives``, a
    (B, 1 + K) boolean mask over [own key, queue entries] (column 0, the own key, is always a positive).

    Args:
        temperature: T, default 0.2.
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        _check_temperature(temperature)
        self.temperature = temperature

    def forward(self, query: Tensor, key: Tensor, queue: Tensor, positives: Tensor) -> Tensor:
        """Args: query (B, D), own key (B, D), queue (K, D), positives (B, 1 + K) bool. Returns: a scalar."""
        log_prob = F.log_softmax(contrast_logits(query, key, queue, self.temperature), dim=1)
        positives = positives.clone()
        positives[:, 0] = True
        weights = positives.float()
        return (-(weights * log_prob).sum(1) / weights.sum(1)).mean()


class RelationKL(nn.Module):
    """L = mean_i KL( softmax(t_i.B_T / T_t) || softmax(s_i.B_S / T_s) ).

    docs/methods/rekd.md, ``relation_loss: kl`` [reconstruction]; with queues as banks this is CompRess-2q
    (Abbasi Koohpayegani et al., NeurIPS 2020, arXiv 2010.14713; docs/methods/compress.md [verified: code
    UMBCvision/CompRess nn/compress_loss.py]). The teacher's distribution is the target. Zero when the student's
    relations equal the teacher's.

    Args:
        teacher_temperature: T_t, default 0.04.
        student_temperature: T_s, default 0.04.
    """

    def __init__(self, teacher_temperature: float = 0.04, student_temperature: float = 0.04) -> None:
        super().__init__()
        _check_temperature(teacher_temperature)
        _check_temperature(student_temperature)
        self.teacher_temperature = teacher_temperature
        self.student_temperature = student_temperature

    def forward(self, student: Tensor, student_bank: Tensor, teacher: Tensor, teacher_bank: Tensor) -> Tensor:
        """Args: student (B, Ds), student bank (K, Ds), teacher (B, Dt), teacher bank (K, Dt). Returns: a scalar."""
        log_p_teacher = F.log_softmax(teacher.float() @ teacher_bank.float().T / self.teacher_temperature, dim=1)
        log_p_student = F.log_softmax(student.float() @ student_bank.float().T / self.student_temperature, dim=1)
        return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
