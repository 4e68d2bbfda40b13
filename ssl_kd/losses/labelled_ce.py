"""Cross-entropy over the labelled samples of a partly labelled batch (``data.labelled_per_class``)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

UNLABELLED = -100
"""Label of a training sample whose label is withheld (``data.labelled_per_class``); the loss's ignore index
(PyTorch's default ``ignore_index``). Defined here, the loss being its user, so that the losses import no data code;
``ssl_kd.data.base`` re-exports it."""


class LabelledCrossEntropy(nn.Module):
    """Mean cross-entropy over the samples whose label is not :data:`UNLABELLED`::

        L = sum_{i : y_i labelled} CE(z_i, y_i) / max(1, #labelled)

    A batch without any label gives 0 with a zero gradient, where ``F.cross_entropy``'s mean over no samples is
    NaN (with 20 of 100 samples per class labelled and batches of 32, about one batch in 1200 has no label).
    No host synchronisation: the count stays on the device.

    Args:
        label_smoothing: as in ``F.cross_entropy``.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Args: logits (B, C), labels (B,) with UNLABELLED for unlabelled samples. Returns: a scalar."""
        per_sample = F.cross_entropy(
            logits, labels, ignore_index=UNLABELLED, reduction="none", label_smoothing=self.label_smoothing
        )
        return per_sample.sum() / (labels != UNLABELLED).sum().clamp(min=1)
