"""NT-Xent, the normalised-temperature cross-entropy of SimCLR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.losses.info_nce import _check_temperature


class NTXent(nn.Module):
    """L = mean over 2N views of -log[ exp(z_i.z_p(i) / T) / sum_{k != i} exp(z_i.z_k / T) ].

    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020,
    arXiv 2002.05709; METHODS.md §12 [reconstruction of the formula]. ``z`` are the L2-normalised projections of
    both views; each view's positive is the other view of its image, every other view in the batch is a negative,
    and self-similarity is masked out.

    Args:
        temperature: T, default 0.2 (shared with MoCo v2).
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        _check_temperature(temperature)
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        """Args: normalised projections of view 1 and view 2, (N, D) each. Returns: a scalar."""
        z = torch.cat([z1, z2]).float()
        n = len(z1)
        logits = z @ z.T / self.temperature
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
        return F.cross_entropy(logits, targets)
