"""NT-Xent, the normalised-temperature cross-entropy of SimCLR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.losses.info_nce import _check_temperature


class NTXent(nn.Module):
    """L = mean over 2N views of -log[ exp(z_i.z_p(i) / T) / sum_{k != i} exp(z_i.z_k / T) ].

    Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020,
    arXiv 2002.05709; docs/methods/simclr.md [reconstruction of the formula]. ``z`` are the L2-normalised projections of
    both views; each view's positive is the other view of its image, every other view in the batch is a negative,
    and self-similarity is masked out.

    Args:
        temperature: T, default 0.2 (shared with MoCo v2).
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        _check_temperature(temperature)
        self.temperature = temperature

    def forward(
        self, z1: Tensor, z2: Tensor, all_z1: Tensor | None = None, all_z2: Tensor | None = None, offset: int = 0
    ) -> Tensor:
        """Mean loss of the anchors ``z1``, ``z2`` against the candidates ``all_z1``, ``all_z2``.

        Args:
            z1, z2: normalised projections of view 1 and view 2 of the local batch, (n, D) each.
            all_z1, all_z2: the views of the whole (e.g. all ranks') batch, (N, D) each, containing the local
                batch at rows ``offset .. offset + n``; default: the local batch (N = n, offset 0).
            offset: where the local batch sits in ``all_z1`` / ``all_z2``.

        Returns:
            A scalar: the mean over the 2n local anchors. Averaged over equal local batches it is the loss of the
            whole batch.
        """
        all_z1 = z1 if all_z1 is None else all_z1
        all_z2 = z2 if all_z2 is None else all_z2
        n, total = len(z1), len(all_z1)
        anchors = torch.cat([z1, z2]).float()
        candidates = torch.cat([all_z1, all_z2]).float()
        logits = anchors @ candidates.T / self.temperature
        local = torch.arange(offset, offset + n, device=logits.device)
        own = torch.cat([local, local + total])  # each anchor's own column, masked out
        positive = torch.cat([local + total, local])
        logits = logits.index_put((torch.arange(2 * n, device=logits.device), own), torch.tensor(float("-inf")))
        return F.cross_entropy(logits, positive)
