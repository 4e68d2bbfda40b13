"""Uniform negative sampling for KGE training (docs/methods/kge.md).

Bordes et al. 2013 corrupt the head or the tail of each positive triple with a uniformly drawn entity; as pykeen's
``BasicNegativeSampler`` (and the RotatE code), false negatives are **not** filtered: a corrupted triple may be a
known true triple, or even the positive itself.
"""

from __future__ import annotations

import torch
from torch import Tensor


def corrupt(
    triples: Tensor, num_negatives: int, num_entities: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw ``num_negatives`` replacement entities per positive triple.

    Args:
        triples: (B, 3) id rows (head, relation, tail).
        num_negatives: K, negatives per positive.
        num_entities: replacements are uniform over ``[0, num_entities)``.
        generator: random source; draws happen on its device (CPU when None) and move to ``triples.device``.

    Returns:
        negatives (B, K) int64 entity ids, and corrupt_head (B,) bool: per positive a fair coin, True = the head is
        replaced by each negative, False = the tail (the same side for all K negatives of a positive, as the
        RotatE code's head-batch / tail-batch modes).
    """
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError(f"triples must be (B, 3), got {tuple(triples.shape)}")
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
    if num_entities < 1:
        raise ValueError(f"num_entities must be at least 1, got {num_entities}")
    device = generator.device if generator is not None else torch.device("cpu")
    batch = len(triples)
    negatives = torch.randint(num_entities, (batch, num_negatives), generator=generator, device=device)
    corrupt_head = torch.randint(2, (batch,), generator=generator, device=device).bool()
    return negatives.to(triples.device), corrupt_head.to(triples.device)


def corrupted_triples(triples: Tensor, negatives: Tensor, corrupt_head: Tensor) -> Tensor:
    """The corrupted triples as explicit (B, K, 3) id rows, e.g. to score them with another model or to filter."""
    out = triples.unsqueeze(1).expand(-1, negatives.shape[1], -1).clone()
    out[:, :, 0] = torch.where(corrupt_head.unsqueeze(1), negatives, out[:, :, 0])
    out[:, :, 2] = torch.where(corrupt_head.unsqueeze(1), out[:, :, 2], negatives)
    return out
