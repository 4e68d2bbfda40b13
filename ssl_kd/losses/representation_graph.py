"""Representation-graph loss of graph distillation (Zhang & Peng, IJCAI-18): adapted student features match the
pairwise ensembled representations of the teachers."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

RepLoss = Literal["mse", "cosine"]


class RepresentationGraphLoss(nn.Module):
    """L_rep = (1 / P) * sum_{k<l} mean_b d(phi_kl(h_s), g_kl).

    Zhang, Peng, "Better and Faster: Knowledge Transfer from Multiple Self-supervised Learning Tasks via Graph
    Distillation for Video Classification", IJCAI-18, arXiv 1804.10069; docs/methods/video_graph.md. Verified
    (abstract): a representation graph distils features from pairwise ensembled teacher representations and handles
    their heterogeneity. Third-party (review): compact bilinear pooling builds the pair representations g_kl.
    Reconstruction: the formula; phi_kl are learned linear adapters of the student features h_s (owned by the method,
    like the pairing, see ``ssl_kd.blocks.compact_bilinear``).

    ``d`` is ``mse``: ||a - b||^2 (squared L2 distance summed over features), or ``cosine``: 1 - cos(a, b).

    Args:
        kind: ``mse`` or ``cosine``.

    Examples:
        >>> loss = RepresentationGraphLoss("mse")
        >>> value = loss(adapted_student, pair_targets)  # both (P, B, d)
    """

    def __init__(self, kind: RepLoss = "mse") -> None:
        super().__init__()
        if kind not in ("mse", "cosine"):
            raise ValueError(f"kind must be mse or cosine, got {kind!r}")
        self.kind = kind

    def forward(self, student: Tensor, targets: Tensor) -> Tensor:
        """Args: adapted student features and teacher pair targets, both ``(P, B, d)``. Returns: a scalar."""
        if student.shape != targets.shape or student.ndim != 3:
            raise ValueError(f"expected two (P, B, d) tensors, got {tuple(student.shape)} and {tuple(targets.shape)}")
        student, targets = student.float(), targets.float()
        if self.kind == "mse":
            return (student - targets).pow(2).sum(-1).mean()
        return (1 - F.cosine_similarity(student, targets, dim=-1)).mean()
