"""Full-ranking top-k evaluation of recommenders: Precision, Recall and NDCG @ k (docs/methods/htd.md).

Every evaluated user's scores of *all* items are ranked; the items the user is known to have interacted with outside
the evaluated split (training items, and validation items when testing) are excluded by setting their scores to
−inf, and the top k of the rest are compared with the user's held-out items T_u::

    Precision@k = |top_k ∩ T_u| / k
    Recall@k    = |top_k ∩ T_u| / |T_u|
    NDCG@k      = Σ_{r < k} [top_k[r] ∈ T_u] / log2(r + 2)  /  Σ_{r < min(k, |T_u|)} 1 / log2(r + 2)

averaged over the users with at least one held-out item. Users are scored in chunks of ``user_chunk`` (a chunk's
(C, num_items) score matrix is the only large tensor), so memory stays flat for MovieLens-1M-sized data and beyond;
within a chunk masking, ``topk`` and the hit lookup are tensor operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


class ItemScorer(Protocol):
    """Anything that scores every item for a batch of users, e.g. ``ssl_kd.recsys.models.BPRMF``."""

    def score_items(self, users: Tensor) -> Tensor: ...


@dataclass(frozen=True)
class UserItems:
    """Per-user item lists in compressed-row form: user u's items are ``items[indptr[u]:indptr[u + 1]]``."""

    indptr: Tensor
    items: Tensor

    @classmethod
    def from_pairs(cls, pairs: Tensor, num_users: int) -> UserItems:
        """From (N, 2) ``(user, item)`` rows (any order) for users ``0..num_users-1``."""
        order = torch.argsort(pairs[:, 0], stable=True)
        counts = torch.bincount(pairs[:, 0], minlength=num_users)
        indptr = torch.zeros(num_users + 1, dtype=torch.int64)
        indptr[1:] = torch.cumsum(counts, 0)
        return cls(indptr, pairs[order, 1].contiguous())

    @property
    def num_users(self) -> int:
        return len(self.indptr) - 1

    def counts(self) -> Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def chunk(self, start: int, end: int) -> tuple[Tensor, Tensor]:
        """``(rows, items)`` of users ``[start, end)``: row ``r`` is user ``start + r``."""
        counts = self.counts()[start:end]
        rows = torch.repeat_interleave(torch.arange(end - start), counts)
        return rows, self.items[self.indptr[start] : self.indptr[end]]


def topk_metric_names(ks: Sequence[int]) -> list[str]:
    """``precision_at_k``, ``recall_at_k``, ``ndcg_at_k`` for each k, in that order."""
    return [f"{name}_at_{k}" for k in ks for name in ("precision", "recall", "ndcg")]


@torch.no_grad()
def evaluate_topk(
    model: ItemScorer,
    targets: UserItems,
    excluded: Sequence[UserItems],
    num_items: int,
    ks: Sequence[int] = (10, 20, 50),
    user_chunk: int = 1024,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Precision, Recall and NDCG @ each k over the users with at least one item in ``targets``.

    Args:
        model: scores all ``num_items`` items of a batch of user ids (its ``score_items``).
        targets: each user's held-out items (validation or test).
        excluded: item lists whose items are never ranked (training items; plus validation items when testing).
        num_items: number of items.
        ks: cut-offs.
        user_chunk: users scored at once.
        device: where to score (default: the CPU).

    Returns:
        ``{precision_at_k, recall_at_k, ndcg_at_k ...: mean over evaluated users, "users": their number}``.
    """
    device = device or torch.device("cpu")
    depth = min(max(ks), num_items)
    discounts = 1.0 / torch.log2(torch.arange(2, depth + 2, dtype=torch.float64, device=device))
    ideal = torch.cat([torch.zeros(1, dtype=torch.float64, device=device), torch.cumsum(discounts, 0)])
    sums = {name: torch.zeros((), dtype=torch.float64, device=device) for name in topk_metric_names(ks)}
    evaluated = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, targets.num_users, user_chunk):
        end = min(start + user_chunk, targets.num_users)
        scores = model.score_items(torch.arange(start, end, device=device)).float()
        for item_lists in excluded:
            rows, items = item_lists.chunk(start, end)
            scores[rows.to(device), items.to(device)] = -torch.inf
        rows, items = targets.chunk(start, end)
        held_out = torch.zeros(end - start, num_items, dtype=torch.bool, device=device)
        held_out[rows.to(device), items.to(device)] = True
        sizes = targets.counts()[start:end].to(device)
        has_targets = sizes > 0
        top = torch.topk(scores, depth, dim=1).indices
        hits = held_out.gather(1, top).double()
        gains = torch.cumsum(hits * discounts, 1)
        found = torch.cumsum(hits, 1)
        for k in ks:
            column = min(k, depth) - 1
            per_user = {
                "precision": found[:, column] / k,
                "recall": found[:, column] / sizes.clamp(min=1),
                "ndcg": gains[:, column] / ideal[sizes.clamp(max=min(k, depth))].clamp(min=1e-12),
            }
            for name, values in per_user.items():
                sums[f"{name}_at_{k}"] += (values * has_targets).sum()
        evaluated += has_targets.sum()
    users = int(evaluated)
    return {name: float(total) / max(1, users) for name, total in sums.items()} | {"users": users}
