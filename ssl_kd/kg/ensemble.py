"""KEnS ensemble inference: each language model's top-k votes for tails of the target KG; learned model weights.

Chen et al., "Multilingual Knowledge Graph Completion via Ensemble Knowledge Transfer", Findings of EMNLP 2020,
arXiv 2010.03158; reference code github.com/stasl0217/KEnS (``src/validate.py``, ``src/ensemble.py``,
``src/weightlearning.py``); docs/methods/kens.md.

How a method uses it, per target view (M models: the target's first, then the supporters')::

    to_sup = alignment_map(links_target_to_supporter, target.num_entities)     # target id -> supporter id
    heads_sup = map_ids(queries[:, 0], to_sup)                                  # -1: head has no counterpart
    top = [topk_entities(target_scores, 10)]
    top += [transfer_topk(supporter_scores, to_sup, 10, valid_rows=heads_sup >= 0)]  # one per supporter
    weights = learn_weights("boosting", val_top, val_true, heads=val_heads, num_entities=E)
    votes = ensemble_scores(top, query_weights(weights, queries[:, 0]), E)
    metrics = filtered_hits(votes, queries[:, 2], tail_filter_mask(queries, known_triples, E))

Supporter scores are over the supporter's own entities (``score_tails`` at the aligned heads); the reference code
restricts them to entities with a target counterpart before taking the top-k, and so does
:func:`transfer_topk`, so a supporter still nominates k target entities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ssl_kd.evaluation import ranking

NO_ENTITY = -1
WeightMethod = Literal["majority", "weighted", "mrr", "boosting"]


def alignment_map(links: Tensor, num_a: int) -> Tensor:
    """(num_a,) int64: for each id of side a the linked id of side b, ``NO_ENTITY`` (-1) if unlinked.

    ``links`` is (L, 2) (id in a, id in b); with repeated a ids the last link wins.
    """
    mapping = torch.full((num_a,), NO_ENTITY, dtype=torch.long, device=links.device)
    if links.numel():
        mapping[links[:, 0].long()] = links[:, 1].long()
    return mapping


def map_ids(ids: Tensor, mapping: Tensor) -> Tensor:
    """``mapping[ids]`` where ``ids >= 0``, else ``NO_ENTITY`` (shape of ``ids``)."""
    mapped = mapping[ids.clamp_min(0)]
    return torch.where(ids >= 0, mapped, torch.full_like(mapped, NO_ENTITY))


def topk_entities(scores: Tensor, k: int) -> Tensor:
    """(Q, k) ids of the k best-scored entities per row (higher = better); ``NO_ENTITY`` where the score is -inf."""
    k = min(k, scores.shape[1])
    values, ids = scores.topk(k, dim=1)
    return ids.masked_fill(torch.isneginf(values), NO_ENTITY)


def transfer_topk(scores: Tensor, target_to_supporter: Tensor, k: int, valid_rows: Tensor | None = None) -> Tensor:
    """A supporter's top-k in *target* ids: (Q, k), ``NO_ENTITY`` padded.

    Target entity e gets the supporter's score of its counterpart ``target_to_supporter[e]``; entities without
    one are dropped, then the k best remain (the reference's "filtered, reordered embedding matrix" — which,
    unlike here, left unlinked entities in the search as zero vectors). Rows with ``valid_rows`` False
    (the query head has no counterpart) nominate nothing.

    Args:
        scores: (Q, E_s) supporter scores over its own entities.
        target_to_supporter: (E_t,) from :func:`alignment_map`.
        k: list length.
        valid_rows: optional (Q,) bool.
    """
    linked = target_to_supporter >= 0
    gathered = scores[:, target_to_supporter.clamp_min(0)]
    gathered = gathered.masked_fill(~linked[None, :], float("-inf"))
    if valid_rows is not None:
        gathered = gathered.masked_fill(~valid_rows[:, None], float("-inf"))
    return topk_entities(gathered, k)


def ensemble_scores(topk: Sequence[Tensor], weights: Tensor, num_entities: int) -> Tensor:
    """Weighted votes: ``score(q, e) = Σ_i w_i · 1[e ∈ top_i(q)]``, (Q, E).

    arXiv 2010.03158. ``NO_ENTITY`` entries are ignored and an entity listed twice by one model counts once.

    Args:
        topk: M tensors (Q, k_i) of entity ids, one per model.
        weights: (M,) or (Q, M) model weights.
        num_entities: E, the target view's entity count.
    """
    if not topk:
        raise ValueError("ensemble needs at least one model's top-k")
    num_queries = topk[0].shape[0]
    weights = torch.as_tensor(weights, dtype=torch.float32, device=topk[0].device)
    if weights.dim() == 1:
        weights = weights.expand(num_queries, -1)
    if weights.shape != (num_queries, len(topk)):
        raise ValueError(f"weights must be ({len(topk)},) or ({num_queries}, {len(topk)}), got {tuple(weights.shape)}")
    votes = torch.zeros(num_queries, num_entities + 1, device=weights.device)
    for i, ids in enumerate(topk):
        slots = torch.where(ids >= 0, ids, torch.full_like(ids, num_entities)).long()
        present = torch.zeros_like(votes).scatter_(1, slots, 1.0)
        votes += weights[:, i : i + 1] * present
    return votes[:, :num_entities]


def realistic_ranks(scores: Tensor, true_index: Tensor, filter_mask: Tensor | None = None) -> Tensor:
    """Filtered realistic rank of the true candidate, (B,) float64: ``ssl_kd.evaluation.ranking.realistic_ranks``
    with an optional ``filter_mask`` (None: nothing filtered).

    ``rank = (optimistic + pessimistic) / 2`` with optimistic = 1 + #strictly better and pessimistic = 1 +
    #better-or-equal others; candidates with ``filter_mask`` True are excluded (the true one never is).
    """
    if filter_mask is None:
        filter_mask = torch.zeros_like(scores, dtype=torch.bool)
    return ranking.realistic_ranks(scores, true_index.long(), filter_mask)


def filtered_hits(
    scores: Tensor, true_index: Tensor, filter_mask: Tensor | None = None, ks: Sequence[int] = (1, 3, 10)
) -> dict[str, float]:
    """``{"hits@k": ..., "mrr": ...}`` of the realistic ranks (see :func:`realistic_ranks`)."""
    ranks = realistic_ranks(scores, true_index, filter_mask)
    metrics = {f"hits@{k}": (ranks <= k).double().mean().item() for k in ks}
    metrics["mrr"] = ranks.reciprocal().mean().item()
    return metrics


def tail_filter_mask(queries: Tensor, known: Tensor, num_entities: int) -> Tensor:
    """(Q, E) bool: True for every tail t' ≠ t with (h, r, t') in ``known`` for query (h, r, t).

    Batched over unique (h, r) keys; ``known`` is typically train ∪ valid ∪ test of the target view.
    """
    base = int(max(queries[:, 1].max().item() if len(queries) else 0, known[:, 1].max().item() if len(known) else 0))
    base += 1
    q_keys = queries[:, 0].long() * base + queries[:, 1].long()
    k_keys = known[:, 0].long() * base + known[:, 1].long()
    unique, inverse = torch.unique(q_keys, return_inverse=True)
    position = torch.searchsorted(unique, k_keys).clamp_max(max(len(unique) - 1, 0))
    hit = unique[position] == k_keys if len(unique) else torch.zeros_like(k_keys, dtype=torch.bool)
    mask_unique = torch.zeros(len(unique), num_entities, dtype=torch.bool)
    mask_unique[position[hit], known[hit, 2].long()] = True
    mask = mask_unique[inverse]
    mask[torch.arange(len(queries)), queries[:, 2].long()] = False
    return mask


def _list_ranks(topk: Tensor, true_index: Tensor, filter_mask: Tensor | None) -> Tensor:
    """(Q,) 1-based filtered position of the true entity in a top-k list, 0 when absent."""
    valid = topk >= 0
    if filter_mask is not None:
        valid &= ~filter_mask.gather(1, topk.clamp_min(0))
    is_true = (topk == true_index[:, None]) & valid
    position = torch.cumsum(valid.long(), dim=1)  # filtered position of each slot
    return (position * is_true).sum(dim=1)


def mrr_weights(topk: Sequence[Tensor], true_index: Tensor, filter_mask: Tensor | None = None) -> Tensor:
    """(M,) each model's validation MRR from its top-k list (a miss counts 0: MRR@k), filtered.

    [reconstruction: the reference code has no MRR ensemble; the paper weights each model by its validation MRR.]
    """
    weights = []
    for ids in topk:
        ranks = _list_ranks(ids, true_index, filter_mask).double()
        weights.append(torch.where(ranks > 0, 1.0 / ranks.clamp_min(1), torch.zeros_like(ranks)).mean())
    return torch.stack(weights).float()


def boosting_round_weights(signs: Tensor, counts: Tensor, rounds: int = 5) -> Tensor:
    """AdaBoost-like model weights from a correctness matrix: (M,), each ``1 + Σ chosen α``.

    ``signs`` (P, M) is +1 where model j ranks datapoint p correctly, -1 wrongly; ``counts`` (P,) how many
    identical datapoints each row stands for (the data weights start uniform per datapoint). Each round::

        α_j = ½ ln(correct_j / wrong_j),   correct_j = Σ_p w_p [s_pj = +1] + 1e-7,  wrong_j likewise
        j* = the best not yet chosen model;  W_j* += α_j*;  w_p ∝ w_p · exp(−α_j* s_pj*)

    then 1 is added to every W (reference ``learn_model_weights``). Rounds stop when every model has been chosen
    [the reference guards with "final weight not > 0", which can re-pick a model with α ≤ 0; here each model is
    chosen at most once].
    """
    counts = counts.double()
    signs = signs.double()
    w = counts / counts.sum()
    final = torch.zeros(signs.shape[1], dtype=torch.float64)
    chosen = torch.zeros(signs.shape[1], dtype=torch.bool)
    for _ in range(min(rounds, signs.shape[1])):
        correct = (w[:, None] * (signs > 0)).sum(dim=0) + 1e-7
        wrong = (w[:, None] * (signs < 0)).sum(dim=0) + 1e-7
        alpha = 0.5 * torch.log(correct / wrong)
        best = int(alpha.masked_fill(chosen, float("-inf")).argmax())
        chosen[best] = True
        final[best] += alpha[best]
        w = w * torch.exp(-alpha[best] * signs[:, best])
        w = w / w.sum()
    return (final + 1).float()


def boosting_signs(
    topk: Tensor,
    true_index: Tensor,
    num_entities: int,
    extra_wrong: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Compressed correctness matrix of the boosting datapoints (query q, entity c) for M models.

    Datapoint (q, c) is wrong (-1) for model j if j lists c strictly before q's true tail, or — when the true
    tail is missing from j's list — if c is in the list or among ``extra_wrong[j]`` random entities (an estimate
    of how many entities outrank a missed tail); otherwise correct (+1). [reconstruction of the reference
    ``rank_matrix_from_one_triple``, which also marks the true tail itself wrong when its position is > 0;
    here the true tail is never a wrong datapoint.]

    Args:
        topk: (Q, M, k) top-k lists of the M models for Q queries.
        true_index: (Q,) true tails.
        num_entities: E.
        extra_wrong: (M,) int, random wrong entities per miss (default 0).
        generator: for the random entities.

    Returns:
        ``(signs (P + 1, M), counts (P + 1,))``: the datapoints wrong for at least one model, then one row of
        +1 standing for all the Q·E − P others.
    """
    num_queries, num_models, k = topk.shape
    slot = torch.arange(k, device=topk.device)
    is_true = topk == true_index[:, None, None]
    found = is_true.any(dim=2)  # (Q, M)
    true_slot = torch.where(found, is_true.long().argmax(dim=2), torch.full_like(found, k, dtype=torch.long))
    wrong = (slot[None, None, :] < true_slot[:, :, None]) & (topk >= 0) & (topk != true_index[:, None, None])
    q_idx, m_idx, s_idx = torch.nonzero(wrong, as_tuple=True)
    keys = [q_idx * num_entities + topk[q_idx, m_idx, s_idx]]
    models = [m_idx]
    if extra_wrong is not None:
        for j in range(num_models):
            missed = torch.nonzero(~found[:, j]).squeeze(1)
            n = int(extra_wrong[j])
            if n <= 0 or not len(missed):
                continue
            sampled = torch.randint(num_entities, (len(missed), n), generator=generator)
            keep = sampled != true_index[missed, None]
            keys.append((missed[:, None] * num_entities + sampled)[keep])
            models.append(torch.full((int(keep.sum()),), j, dtype=torch.long))
    all_keys, all_models = torch.cat(keys), torch.cat(models)
    unique, inverse = torch.unique(all_keys, return_inverse=True)
    signs = torch.ones(len(unique) + 1, num_models)
    signs[inverse, all_models] = -1.0
    counts = torch.ones(len(unique) + 1)
    counts[-1] = num_queries * num_entities - len(unique)
    return signs, counts


def boosting_weights(
    topk: Sequence[Tensor],
    true_index: Tensor,
    heads: Tensor,
    num_entities: int,
    count_tails: bool = True,
    min_triples: int = 10,
    rounds: int = 5,
    miss_scale: float | None = 100.0,
    seed: int = 0,
) -> Tensor:
    """Entity-specific boosted model weights, (E, M): row e weighs the models for queries whose head is e.

    Reference ``learn_entity_specific_weights``: for each entity with more than ``min_triples`` validation
    triples (as head or tail; ``count_tails=False``: as head only) the models' correctness on those triples
    (:func:`boosting_signs`) feeds :func:`boosting_round_weights`; other entities keep weight 1 for every model.
    A miss adds ``max(0, int(miss_scale / hits_j) − k)`` random wrong entities for model j, with hits_j its
    validation Hits@k over all queries (the reference's ``100 / base[lang] − len(predictions)``, but with
    validation rather than test Hits; ``miss_scale=None``: no random entities). The per-entity loop runs once
    per learning, batched within each entity.

    Args:
        topk: M validation top-k lists (Q, k) in target ids.
        true_index: (Q,) validation true tails.
        heads: (Q,) validation heads.
        num_entities: E.
        count_tails: an entity's triples are those with it as head or tail (reference), else as head.
        min_triples: entities need strictly more triples than this.
        rounds: boosting rounds (5).
        miss_scale: see above.
        seed: random entities' seed.
    """
    stacked = torch.stack(list(topk), dim=1)  # (Q, M, k)
    num_models, k = stacked.shape[1], stacked.shape[2]
    extra = None
    if miss_scale is not None:
        hits = (stacked == true_index[:, None, None]).any(dim=2).double().mean(dim=0)
        extra = torch.tensor(
            [num_entities - k if h == 0 else max(0, int(miss_scale / h) - k) for h in hits.tolist()]
        ).clamp(max=num_entities)
    generator = torch.Generator().manual_seed(seed)
    weights = torch.ones(num_entities, num_models)
    heads, true_index = heads.long(), true_index.long()
    counts = torch.bincount(heads, minlength=num_entities)
    if count_tails:  # a triple (e, r, e) counts once
        counts += torch.bincount(true_index[true_index != heads], minlength=num_entities)
    for e in torch.nonzero(counts > min_triples).squeeze(1).tolist():
        member = (heads == e) | (true_index == e) if count_tails else heads == e
        rows = torch.nonzero(member).squeeze(1)
        signs, multiplicity = boosting_signs(stacked[rows], true_index[rows], num_entities, extra, generator)
        weights[e] = boosting_round_weights(signs, multiplicity, rounds)
    return weights


def learn_weights(
    method: WeightMethod,
    topk: Sequence[Tensor],
    true_index: Tensor | None = None,
    *,
    heads: Tensor | None = None,
    num_entities: int | None = None,
    filter_mask: Tensor | None = None,
    supporter_weight: float = 0.3,
    **boosting: float,
) -> Tensor:
    """Model weights for :func:`ensemble_scores` from validation top-k lists (target model first).

    - ``"majority"``: all 1, (M,).
    - ``"weighted"``: the reference's fixed weights, target 1 and every supporter ``supporter_weight`` (0.3,
      ``voting_with_model_weight``), (M,).
    - ``"mrr"``: :func:`mrr_weights`, (M,).
    - ``"boosting"``: :func:`boosting_weights` (needs ``heads`` and ``num_entities``), (E, M); the extra
      keyword arguments go to it.
    """
    num_models = len(topk)
    if method == "majority":
        return torch.ones(num_models)
    if method == "weighted":
        return torch.tensor([1.0] + [supporter_weight] * (num_models - 1))
    if true_index is None:
        raise ValueError(f"{method!r} weights need the validation true tails")
    if method == "mrr":
        return mrr_weights(topk, true_index, filter_mask)
    if method == "boosting":
        if heads is None or num_entities is None:
            raise ValueError("boosting weights need heads and num_entities")
        return boosting_weights(topk, true_index, heads, num_entities, **boosting)  # type: ignore[arg-type]
    raise ValueError(f"unknown ensemble weighting {method!r}; choose majority, weighted, mrr or boosting")


def query_weights(weights: Tensor, heads: Tensor) -> Tensor:
    """(Q, M) weights per query: rows of entity-specific (E, M) weights at the heads, or (M,) broadcast."""
    if weights.dim() == 1:
        return weights.expand(len(heads), -1)
    return weights[heads.long()]
