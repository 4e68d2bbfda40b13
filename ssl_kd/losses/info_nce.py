"""InfoNCE over a queue of negatives (MoCo)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_temperature(temperature: float) -> None:
    if temperature < 1e-3:
        raise ValueError(f"temperature must be at least 1e-3, got {temperature}")


class InfoNCE(nn.Module):
    """L = mean_i -log[ exp(q_i.k_i / T) / (exp(q_i.k_i / T) + sum_j exp(q_i.n_j / T)) ].

    He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020, arXiv 1911.05722;
    docs/methods/moco_v2.md [verified: code facebookresearch/moco moco/builder.py]: logits ``[q.k, q.Queue] / T``,
    cross-entropy with the positive at index 0. Inputs are expected L2-normalised.

    Args:
        temperature: T, default 0.2 (MoCo v2).

    Examples:
        >>> loss = InfoNCE(0.2)(query, key.detach(), queue)
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        _check_temperature(temperature)
        self.temperature = temperature

    def forward(self, query: Tensor, key: Tensor, negatives: Tensor) -> Tensor:
        """Args: query (B, D), positive key (B, D), negatives (K, D). Returns: a scalar."""
        logits = contrast_logits(query, key, negatives, self.temperature)
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def contrast_logits(query: Tensor, key: Tensor, negatives: Tensor, temperature: float) -> Tensor:
    """``[q_i.k_i, q_i.n_1 .. q_i.n_K] / T`` in float32: (B, 1 + K), the positive in column 0."""
    query, key, negatives = query.float(), key.float(), negatives.float()
    positive = (query * key).sum(dim=1, keepdim=True)
    return torch.cat([positive, query @ negatives.T], dim=1) / temperature
