"""KEnS alignment loss: aligned entities of two knowledge graphs share one embedding space."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn


class AlignmentLoss(nn.Module):
    """L2 distance between the embeddings of aligned entity pairs.

    Chen, Chen, Fan, Uppunda, Sun, Zaniolo, "Multilingual Knowledge Graph Completion via Ensemble Knowledge
    Transfer", Findings of EMNLP 2020, arXiv 2010.03158; docs/methods/kens.md::

        L_A = Σ_links ‖e − e'‖₂        (reduction="sum")
        L_A = mean_links ‖e − e'‖₂     (reduction="mean", the default: independent of the batch of links)

    The norm is sqrt(Σ d² + eps), so its gradient stays finite at e = e'.

    Args:
        reduction: ``"mean"`` (default) or ``"sum"`` over the L links.
        eps: added under the square root (1e-12).
    """

    def __init__(self, reduction: Literal["mean", "sum"] = "mean", eps: float = 1e-12) -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.eps = eps

    def forward(self, e_a: Tensor, e_b: Tensor) -> Tensor:
        """Scalar loss over (L, D) embeddings of the two sides of L links."""
        if e_a.shape != e_b.shape or e_a.dim() != 2:
            raise ValueError(
                f"alignment needs two (L, D) tensors of one shape, got {tuple(e_a.shape)}, {tuple(e_b.shape)}"
            )
        distance = ((e_a - e_b).pow(2).sum(dim=-1) + self.eps).sqrt()
        return distance.mean() if self.reduction == "mean" else distance.sum()
