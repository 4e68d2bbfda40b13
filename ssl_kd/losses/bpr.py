"""Bayesian personalised ranking loss of matrix-factorisation recommenders.

Rendle, Freudenthaler, Gantner, Schmidt-Thieme, "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009,
arXiv 1205.2618; as in the topology-distillation code (docs/methods/htd.md)::

    L_BPR = −Σ_(u,i,j) log σ(s_ui − s_uj)

summed over the batch's (user, positive item i, negative item j) triples, not averaged (the λ_TD of HTD is scaled to
this sum).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class BPRLoss(nn.Module):
    """−Σ log σ(positive − negative) over a batch of score pairs."""

    def forward(self, positive: Tensor, negative: Tensor) -> Tensor:
        """Scores of the positive items ``positive`` (B,) and of the negative items ``negative`` (B,) -> scalar."""
        return -F.logsigmoid(positive - negative).sum()
