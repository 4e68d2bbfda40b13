"""Accuracy of a classifier on a loader, batched, without host syncs inside the loop."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn
from torch.utils.data import DataLoader

from ssl_kd.engine import distributed


@torch.no_grad()
def top1_accuracy(model: nn.Module, loader: DataLoader, device: torch.device, dtype: torch.dtype | None) -> float:
    """Fraction of samples whose arg-max logit is the label (model switched to eval mode).

    Under torchrun every rank passes its own shard of the data; counts are summed over ranks.
    """
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = torch.zeros((), dtype=torch.int64, device=device)
    for images, labels, _ in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
        with autocast:
            logits = model(images)
        correct += (logits.argmax(dim=1) == labels).sum()
        total += labels.shape[0]
    counts = distributed.all_reduce_sum(torch.stack([correct, total]))
    return counts[0].item() / max(1, counts[1].item())
