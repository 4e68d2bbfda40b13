"""DR-KD: distillation from the student's own earlier predictions, rectified by the ground truth."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from ssl_kd.losses.soft_target import SoftTargetKL

Rectify = Literal["swap", "none"]
Weighting = Literal["convex", "additive"]


def rectify_logits(teacher: Tensor, labels: Tensor) -> Tensor:
    """Swap the predicted class's logit with the true class's where the teacher is wrong.

    docs/methods/drkd.md [third-party: unofficial DRKDLoss]: with c = argmax t, ``t'[c] = t[y]`` and
    ``t'[y] = t[c]`` when c != y; correct rows are unchanged. Works on a clone: ``teacher`` is never modified in place.

    Args:
        teacher: teacher logits (B, C).
        labels: class indices (B,).

    Returns:
        The rectified logits (B, C), whose argmax is always ``labels``.
    """
    predicted = teacher.argmax(dim=1, keepdim=True)
    true = labels.view(-1, 1)
    top = teacher.gather(1, predicted)
    at_true = teacher.gather(1, true)
    rectified = teacher.clone()
    rectified.scatter_(1, predicted, at_true)
    rectified.scatter_(1, true, top)
    return rectified


class RectifiedKDLoss(nn.Module):
    """(1 - alpha) * CE(z, y) + alpha * tau^2 * KL(softmax(t' / tau) || softmax(z / tau)), batchmean.

    With ``weighting="additive"`` the CE weight stays 1: CE(z, y) + alpha * tau^2 * KL(...) [not in DR-KD; the
    ``sum`` form of Hinton KD]. The convex form scales the label gradient down by (1 - alpha), which slows a student
    that is still far from fitting its data; the additive form only adds the self-teacher's term.

    Amik et al., "Dynamic Rectification Knowledge Distillation", arXiv 2201.11319; docs/methods/drkd.md
    [reconstruction: objective, alpha, tau; third-party: the swap rectification]. ``t'`` is the detached teacher
    logits rectified by :func:`rectify_logits` (``rectify="swap"``) or left as they are (``"none"``).

    Args:
        alpha: share of the distillation term, in [0, 1] (default 0.9 [reconstruction]).
        tau: softmax temperature, > 0 (default 6 [reconstruction]).
        rectify: ``swap`` or ``none``.
        weighting: ``convex`` (default) or ``additive``.
        ce: the cross-entropy CE (default ``nn.CrossEntropyLoss()``; methods pass ``label_loss(cfg)``).

    Examples:
        >>> terms = RectifiedKDLoss(alpha=0.9, tau=6.0)(student_logits, snapshot_logits, labels)
        >>> sorted(terms)
        ['ce', 'kd']
    """

    def __init__(
        self,
        alpha: float = 0.9,
        tau: float = 6.0,
        rectify: Rectify = "swap",
        weighting: Weighting = "convex",
        ce: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if rectify not in ("swap", "none"):
            raise ValueError(f"rectify must be 'swap' or 'none', got {rectify!r}")
        if weighting not in ("convex", "additive"):
            raise ValueError(f"weighting must be 'convex' or 'additive', got {weighting!r}")
        self.alpha = alpha
        self.rectify = rectify
        self.weighting = weighting
        self.soft_target = SoftTargetKL(tau)
        self.ce = nn.CrossEntropyLoss() if ce is None else ce

    def forward(
        self, student: Tensor, teacher: Tensor, labels: Tensor, alpha: float | None = None
    ) -> dict[str, Tensor]:
        """Weighted ``ce`` and ``kd`` terms; no gradient reaches ``teacher``.

        Args:
            student: student logits (B, C).
            teacher: self-teacher logits (B, C), e.g. from a snapshot of the student.
            labels: class indices (B,).
            alpha: this call's KD share (a scheduled alpha); default: the constructor's.
        """
        alpha = self.alpha if alpha is None else alpha
        target = teacher.detach()
        if self.rectify == "swap":
            target = rectify_logits(target, labels)
        ce_weight = 1.0 - alpha if self.weighting == "convex" else 1.0
        return {
            "ce": ce_weight * self.ce(student, labels),
            "kd": alpha * self.soft_target(student, target),
        }
