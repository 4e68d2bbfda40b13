"""ReKD's relation miner: which queue entries the teacher relates to each query (docs/methods/rekd.md [reconstruction]).

Pure tensor functions, all without gradient and without host syncs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def prototype_positives(teacher: Tensor, teacher_queue: Tensor, prototypes: Tensor) -> Tensor:
    """(B, 1 + K) mask: own key, plus queue slots whose nearest prototype equals the query's.

    y_i = argmax_m u_i.c_m for the batch and y_j likewise for the teacher queue; positive when y_j == y_i.
    """
    batch_labels = (teacher @ prototypes.T).argmax(dim=1)
    queue_labels = (teacher_queue @ prototypes.T).argmax(dim=1)
    related = batch_labels[:, None] == queue_labels[None, :]
    return torch.cat([torch.ones_like(related[:, :1]), related], dim=1)


@torch.no_grad()
def topk_positives(teacher: Tensor, teacher_queue: Tensor, k: int) -> Tensor:
    """(B, 1 + K) mask: own key, plus the k queue slots most similar to u_i in teacher space."""
    similarities = teacher @ teacher_queue.T
    nearest = similarities.topk(min(k, similarities.shape[1]), dim=1).indices
    related = torch.zeros_like(similarities, dtype=torch.bool).scatter_(1, nearest, True)
    return torch.cat([torch.ones_like(related[:, :1]), related], dim=1)


@torch.no_grad()
def prototype_ema(prototypes: Tensor, teacher: Tensor, momentum: float) -> Tensor:
    """c_m <- norm(beta * c_m + (1 - beta) * mean{u_i : argmax u_i.c = m}); prototypes with no member stay."""
    assignment = F.one_hot((teacher @ prototypes.T).argmax(dim=1), len(prototypes)).to(teacher.dtype)
    counts = assignment.sum(dim=0)
    means = assignment.T @ teacher / counts.clamp(min=1)[:, None]
    updated = F.normalize(momentum * prototypes + (1 - momentum) * means, dim=1)
    return torch.where(counts[:, None] > 0, updated, prototypes)


@torch.no_grad()
def kmeans(points: Tensor, centroids: Tensor, iterations: int = 10) -> Tensor:
    """Spherical k-means (Lloyd's) on unit vectors, started from ``centroids``; empty clusters keep theirs."""
    for _ in range(iterations):
        centroids = prototype_ema(centroids, points, momentum=0.0)
    return centroids
