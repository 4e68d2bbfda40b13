"""SOKD losses: the knowledge bridge module learns from labels, teacher and student; the student from the KBM."""

from __future__ import annotations

from torch import Tensor, nn

from ssl_kd.losses.soft_target import SoftTargetKL


class SemiOnlineKDLoss(nn.Module):
    """The two SOKD objectives with the official code's stop-gradients.

    Liu, Liu, Huang, "Semi-Online Knowledge Distillation", BMVC 2021, arXiv 2111.11747; docs/methods/sokd.md
    [verified: code swlzq/Semi-Online-KD trainer/sokd.py, kd_losses/st.py]. With
    ST(a; b) = tau^2 * KL(softmax(b / tau) || softmax(a / tau)), batchmean::

        L_KBM = a_ce * CE(z_A, y) + a_t * ST(z_A; sg z_T) + a_s * ST(z_A; sg z_S)
        L_stu = l_ce * CE(z_S, y) + l_kd * ST(z_S; sg z_A)

    ``z_T`` should already come from a frozen teacher; it is detached here too.

    Args:
        tau: softmax temperature (4 in configs/sokd.yaml).
        kbm_ce, kbm_kd_teacher, kbm_kd_student: a_ce, a_t, a_s (official ``auxiliary_lambda_*``, all 1).
        student_ce, student_kd: l_ce, l_kd (official ``lambda_ce``, ``lambda_kd``, both 1).
        ce: the cross-entropy CE (default ``nn.CrossEntropyLoss()``; methods pass ``label_loss(cfg)``).

    Examples:
        >>> terms = SemiOnlineKDLoss(tau=4.0)(student_logits, kbm_logits, teacher_logits, labels)
        >>> total = sum(terms.values())
    """

    def __init__(
        self,
        tau: float = 4.0,
        kbm_ce: float = 1.0,
        kbm_kd_teacher: float = 1.0,
        kbm_kd_student: float = 1.0,
        student_ce: float = 1.0,
        student_kd: float = 1.0,
        ce: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.soft_target = SoftTargetKL(tau)
        self.ce = nn.CrossEntropyLoss() if ce is None else ce
        self.weights = {
            "kbm_ce": kbm_ce,
            "kbm_kd_teacher": kbm_kd_teacher,
            "kbm_kd_student": kbm_kd_student,
            "student_ce": student_ce,
            "student_kd": student_kd,
        }

    def forward(self, student: Tensor, kbm: Tensor, teacher: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Weighted terms of L_KBM and L_stu.

        Args:
            student: student logits z_S, (B, C).
            kbm: knowledge-bridge logits z_A, (B, C).
            teacher: frozen-teacher logits z_T, (B, C).
            labels: class indices, (B,).

        Returns:
            ``kbm_ce``, ``kbm_kd_teacher``, ``kbm_kd_student``, ``student_ce``, ``student_kd``.
        """
        raw = {
            "kbm_ce": self.ce(kbm, labels),
            "kbm_kd_teacher": self.soft_target(kbm, teacher.detach()),
            "kbm_kd_student": self.soft_target(kbm, student.detach()),
            "student_ce": self.ce(student, labels),
            "student_kd": self.soft_target(student, kbm.detach()),
        }
        return {name: self.weights[name] * value for name, value in raw.items()}
