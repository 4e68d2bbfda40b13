"""Plain FPN feature imitation: mean squared error between adapted student and teacher FPN levels.

The FitNets-style baseline of Kang et al., "Instance-Conditional Knowledge Distillation for Object Detection",
NeurIPS 2021, arXiv 2110.12724 (its "FitNet" rows: the student's FPN regresses the teacher's everywhere, with no
instance conditioning); Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015, arXiv 1412.6550.
docs/methods/icd.md. The per-level 1x1-convolution adapters live in the method.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class FeatureMimicLoss(nn.Module):
    """λ · (1/L) Σ_l mean_{b,c,y,x} (a_l(s_l) − t_l)² over L FPN levels; the teacher levels carry no gradient.

    Args:
        weight: λ.
    """

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, student: Sequence[Tensor], teacher: Sequence[Tensor]) -> Tensor:
        """Args: adapted student levels and teacher levels, pairwise of the same shape. Returns: a scalar."""
        if len(student) != len(teacher) or not student:
            raise ValueError(
                f"need the same, non-zero number of levels: student {len(student)}, teacher {len(teacher)}"
            )
        errors = []
        for level, (s, t) in enumerate(zip(student, teacher, strict=True)):
            if s.shape != t.shape:
                raise ValueError(f"level {level}: student {tuple(s.shape)} and teacher {tuple(t.shape)} differ")
            errors.append((s.float() - t.detach().float()).pow(2).mean())
        return self.weight * torch.stack(errors).mean()
