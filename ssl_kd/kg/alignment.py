"""KEnS self-learning: CSLS similarity, mutual nearest neighbours as new alignment links, link precision.

Chen et al., "Multilingual Knowledge Graph Completion via Ensemble Knowledge Transfer", Findings of EMNLP 2020,
arXiv 2010.03158; docs/methods/kens.md. CSLS is from Conneau et al., "Word Translation Without Parallel
Data", ICLR 2018, arXiv 1710.04087.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _cosine(x: Tensor, y: Tensor) -> Tensor:
    return F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T


def neighbourhood_similarity(x: Tensor, y: Tensor, k: int = 3, chunk_size: int = 4096) -> Tensor:
    """``r(x_i)``: mean cosine of x_i's k nearest neighbours among the rows of ``y``, (n,) (k capped at m)."""
    k = min(k, y.shape[0])
    y_unit = F.normalize(y, dim=-1)
    parts = [(F.normalize(xc, dim=-1) @ y_unit.T).topk(k, dim=1).values.mean(dim=1) for xc in x.split(chunk_size)]
    return torch.cat(parts) if parts else x.new_zeros(0)


def csls_scores(x: Tensor, y: Tensor, k: int = 3) -> Tensor:
    """Cross-domain similarity local scaling between every row of ``x`` (n, D) and of ``y`` (m, D), (n, m)::

        CSLS(x, y) = 2 cos(x, y) − r_T(x) − r_S(y)

    with r_T(x) the mean cosine of x's k nearest neighbours among ``y`` and r_S(y) that of y's k nearest
    neighbours among ``x`` (arXiv 1710.04087; KEnS uses k = 3). Hubs — points close to many others — get
    a large r and so a lower score. Materialises (n, m); :func:`mutual_nearest_neighbours` works in chunks.
    """
    r_x = neighbourhood_similarity(x, y, k)
    r_y = neighbourhood_similarity(y, x, k)
    return 2 * _cosine(x, y) - r_x[:, None] - r_y[None, :]


def _as_mask(ids: Tensor | None, size: int, device: torch.device) -> Tensor:
    mask = torch.zeros(size, dtype=torch.bool, device=device)
    if ids is not None and ids.numel():
        mask[ids.to(device=device, dtype=torch.long).reshape(-1)] = True
    return mask


def _best(queries: Tensor, keys: Tensor, r_keys: Tensor, key_excluded: Tensor, chunk_size: int) -> Tensor:
    """argmax_j 2 cos(q_i, k_j) − r(k_j) over non-excluded keys (r(q_i) is constant per row), -1 if none."""
    keys_unit = F.normalize(keys, dim=-1)
    penalty = r_keys.masked_fill(key_excluded, float("inf"))
    best = []
    for qc in queries.split(chunk_size):
        scores = 2 * (F.normalize(qc, dim=-1) @ keys_unit.T) - penalty[None, :]
        values, index = scores.max(dim=1)
        best.append(index.masked_fill(torch.isinf(values), -1))
    return torch.cat(best) if best else torch.zeros(0, dtype=torch.long, device=queries.device)


@torch.no_grad()
def mutual_nearest_neighbours(
    x: Tensor,
    y: Tensor,
    k: int = 3,
    exclude_a: Tensor | None = None,
    exclude_b: Tensor | None = None,
    chunk_size: int = 4096,
) -> Tensor:
    """Pairs (i, j) that are each other's CSLS nearest neighbour: KEnS's new alignment links.

    arXiv 2010.03158 (docs/methods/kens.md): ``j = argmax_j CSLS(x_i, y_j)`` and
    ``i = argmax_i CSLS(x_i, y_j)``, both over all non-excluded entities, computed in row chunks (never the
    full (n, m) matrix). The neighbourhood terms r use all entities, excluded ones included.

    Differences from the reference TensorFlow code (``src/model.py``, ``extend_seed_align_links``): it searches
    only each entity's k cosine neighbours and never updates its running best CSLS value in the first
    direction, so it effectively takes the last admissible neighbour; here it is a true argmax.

    Args:
        x, y: entity embeddings of the two KGs, (n, D) and (m, D).
        k: CSLS neighbourhood size (3).
        exclude_a, exclude_b: ids of already-linked entities of each side (1-D int), never proposed.
        chunk_size: rows per similarity block.

    Returns:
        (L, 2) int64 pairs (id in x, id in y), sorted by the x id.
    """
    n, m = x.shape[0], y.shape[0]
    if n == 0 or m == 0:
        return torch.zeros(0, 2, dtype=torch.long, device=x.device)
    excluded_a = _as_mask(exclude_a, n, x.device)
    excluded_b = _as_mask(exclude_b, m, x.device)
    r_x = neighbourhood_similarity(x, y, k, chunk_size)
    r_y = neighbourhood_similarity(y, x, k, chunk_size)
    best_for_a = _best(x, y, r_y, excluded_b, chunk_size)  # (n,) ids in y
    best_for_b = _best(y, x, r_x, excluded_a, chunk_size)  # (m,) ids in x
    ids_a = torch.arange(n, device=x.device)
    valid = (best_for_a >= 0) & ~excluded_a
    back = best_for_b[best_for_a.clamp_min(0)]
    mutual = valid & (back == ids_a)
    return torch.stack([ids_a[mutual], best_for_a[mutual]], dim=1)


def _pair_keys(pairs: Tensor, base: int) -> Tensor:
    return pairs[:, 0].long() * base + pairs[:, 1].long()


def alignment_precision(found: Tensor, true: Tensor) -> float:
    """Fraction of the ``found`` (L, 2) pairs that are among the ``true`` (M, 2) pairs (NaN when L = 0)."""
    if found.numel() == 0:
        return float("nan")
    found, true = found.reshape(-1, 2).long(), true.reshape(-1, 2).long().to(found.device)
    base = int(max(found[:, 1].max().item(), true[:, 1].max().item() if true.numel() else 0)) + 1
    hits = torch.isin(_pair_keys(found, base), _pair_keys(true, base))
    return hits.float().mean().item()
