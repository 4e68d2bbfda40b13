"""FitNets hint loss: regress the teacher's hint feature map from the student's guided layer."""

from __future__ import annotations

from torch import Tensor, nn


class HintLoss(nn.Module):
    """0.5 * mean((r(v) - u)^2) between the adapted student feature r(v) and the teacher hint u.

    Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015, arXiv 1412.6550: L_HT = 1/2 ||u_h - r(v_g)||^2. See
    docs/methods/hint.md; [reconstruction] the squared error is averaged over elements (not summed), so its scale does
    not depend on the map size. The adapter r lives in the method; the target is detached here.

    Examples:
        >>> loss = HintLoss()(adapter(student_map), teacher_map)
    """

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Args: adapted student features and teacher features of the same shape. Returns: a scalar."""
        if student.shape != teacher.shape:
            raise ValueError(f"hint shapes differ: student {tuple(student.shape)}, teacher {tuple(teacher.shape)}")
        return 0.5 * (student.float() - teacher.detach().float()).pow(2).mean()
