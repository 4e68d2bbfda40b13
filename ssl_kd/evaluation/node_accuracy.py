"""Node-classification accuracy: the fraction of a node set whose highest-scoring class is its label."""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def node_accuracy(scores: Tensor, labels: Tensor, nodes: Tensor) -> float:
    """Accuracy of ``scores`` (N, C) against ``labels`` (N,) on the node ids ``nodes``; one host sync."""
    return float((scores[nodes].argmax(dim=1) == labels[nodes]).float().mean().item())
