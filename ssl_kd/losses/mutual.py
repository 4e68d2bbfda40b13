"""Deep mutual learning loss: each peer learns from the labels and from every other peer."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ssl_kd.losses.soft_target import SoftTargetKL


class MutualLearningLoss(nn.Module):
    """Per-peer DML loss with stop-gradients on the peer targets (joint update).

    Zhang, Xiang, Hospedales, Lu, "Deep Mutual Learning", CVPR 2018, arXiv 1706.00384; docs/methods/dml.md
    [reconstruction: formula; the peer term matches SOKD's verified KBM loss]::

        L_k = ce_weight * CE(z_k, y)
              + kd_weight / (P - 1) * sum_{l != k} tau^2 * KL(softmax(sg z_l / tau) || softmax(z_k / tau))

    The targets ``z_l`` are detached, so the KL terms of ``L_k`` move peer ``k`` only.

    Args:
        tau: softmax temperature, > 0 (default 1, docs/methods/dml.md).
        ce_weight: weight of each peer's cross-entropy.
        kd_weight: weight of each peer's mean KL to the others.
        ce: the cross-entropy CE (default ``nn.CrossEntropyLoss()``; methods pass ``label_loss(cfg)``).

    Examples:
        >>> terms = MutualLearningLoss(tau=1.0)([logits_a, logits_b], labels)
        >>> sorted(terms)
        ['ce_0', 'ce_1', 'kd_0', 'kd_1']
    """

    def __init__(
        self, tau: float = 1.0, ce_weight: float = 1.0, kd_weight: float = 1.0, ce: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.soft_target = SoftTargetKL(tau)
        self.ce = nn.CrossEntropyLoss() if ce is None else ce
        self.ce_weight = ce_weight
        self.kd_weight = kd_weight

    def forward(self, logits: Sequence[Tensor], labels: Tensor) -> dict[str, Tensor]:
        """Weighted loss terms per peer.

        Args:
            logits: P >= 2 tensors of shape (B, C), one per peer.
            labels: class indices of shape (B,).

        Returns:
            ``{"ce_k": ..., "kd_k": ...}`` for every peer index k.
        """
        if len(logits) < 2:
            raise ValueError(f"mutual learning needs at least 2 peers, got {len(logits)}")
        targets = [z.detach() for z in logits]
        terms: dict[str, Tensor] = {}
        for k, z_k in enumerate(logits):
            terms |= self.peer_terms(k, z_k, targets, labels)
        return terms

    def peer_terms(self, k: int, logits_k: Tensor, targets: Sequence[Tensor], labels: Tensor) -> dict[str, Tensor]:
        """``{"ce_k", "kd_k"}``: peer ``k``'s terms against the (detached) predictions ``targets`` of every peer.

        ``targets[k]`` is ignored. The alternating update calls this once per peer with targets recomputed after
        the earlier peers' steps.
        """
        kl = [self.soft_target(logits_k, t.detach()) for index, t in enumerate(targets) if index != k]
        return {
            f"ce_{k}": self.ce_weight * self.ce(logits_k, labels),
            f"kd_{k}": self.kd_weight * sum(kl) / len(kl),
        }
