"""Filtered rank-based link-prediction evaluation: MRR, MR, Hits@k over head and tail queries (docs/methods/kge.md).

Every test triple (h, r, t) asks two queries: the tail query (h, r, ?) ranks the true t among all entities, the head
query (?, r, t) ranks the true h. Filtered setting (Bordes et al. 2013): every *other* entity that makes a known true
triple (``filter_triples``, usually train + valid + test) is left out of the candidates; the target is always kept.

Ties: the realistic rank, the mean of the optimistic rank (1 + #candidates scoring strictly higher) and the
pessimistic rank (1 + #other candidates scoring at least as high), i.e. the expected rank under a random order of
the tied candidates; pykeen's default (``pykeen.evaluation.ranks.Ranks``). A NaN score counts as lower than anything.

Memory: the candidates are scored in chunks of ``entity_chunk`` ids and only the counts of higher and of
higher-or-equal candidates are kept per query, so memory is O(batch_size x entity_chunk) whatever the KG size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn


class CandidateScorer(Protocol):
    """Anything that scores all candidate entities in an id range ``[start, end)``, e.g. ``ssl_kd.kg.KGEModel``."""

    def score_tails(self, h: Tensor, r: Tensor, start: int = 0, end: int | None = None) -> Tensor: ...

    def score_heads(self, r: Tensor, t: Tensor, start: int = 0, end: int | None = None) -> Tensor: ...


@dataclass
class RankingResult:
    """Realistic filtered ranks (float64), one per evaluation triple and side."""

    head_ranks: Tensor
    tail_ranks: Tensor

    def metrics(self, ks: Sequence[int] = (1, 3, 10)) -> dict[str, float]:
        """``mrr`` (mean reciprocal rank), ``mr`` (mean rank), ``hits_at_k`` (fraction of ranks <= k), over both
        sides pooled, and the same keys prefixed ``tail_`` and ``head_`` for each side alone."""
        out: dict[str, float] = {}
        sides = {"": torch.cat([self.tail_ranks, self.head_ranks]), "tail_": self.tail_ranks, "head_": self.head_ranks}
        for prefix, ranks in sides.items():
            ranks = ranks.double()
            out[f"{prefix}mrr"] = ranks.reciprocal().mean().item()
            out[f"{prefix}mr"] = ranks.mean().item()
            for k in ks:
                out[f"{prefix}hits_at_{k}"] = (ranks <= k).double().mean().item()
        return out


def _ranks_from_counts(greater: Tensor, greater_equal: Tensor) -> Tensor:
    """(optimistic + pessimistic) / 2 = ((1 + greater) + (1 + greater_equal)) / 2."""
    return 1.0 + 0.5 * (greater + greater_equal).double()


def _count(scores: Tensor, true_scores: Tensor, excluded: Tensor) -> tuple[Tensor, Tensor]:
    """Per row: #candidates scoring > and >= the true score among those not excluded."""
    kept = ~excluded
    true_scores = true_scores.unsqueeze(1)
    return ((scores > true_scores) & kept).sum(dim=1), ((scores >= true_scores) & kept).sum(dim=1)


def realistic_ranks(scores: Tensor, true_index: Tensor, filter_mask: Tensor) -> Tensor:
    """Realistic rank of column ``true_index[b]`` in row b of ``scores`` (B, C), ignoring the candidates where
    ``filter_mask`` (B, C) is True (the target itself is never filtered). Returns float64 (B,)."""
    rows = torch.arange(len(scores), device=scores.device)
    excluded = filter_mask.clone()
    excluded[rows, true_index] = True  # the target is compared with the *other* candidates
    greater, greater_equal = _count(scores, scores[rows, true_index], excluded)
    return _ranks_from_counts(greater, greater_equal)


class _FilterIndex:
    """CSR index of known true triples: query key (entity, relation) -> sorted answer entities.

    Built once with sorts; ``answers`` expands a batch of query keys to (row, entity) pairs with tensor ops only.
    """

    def __init__(self, anchors: Tensor, relations: Tensor, answers: Tensor, num_relations: int) -> None:
        self.num_relations = num_relations
        keys = anchors * num_relations + relations
        order = torch.argsort(answers, stable=True)
        order = order[torch.argsort(keys[order], stable=True)]  # by key, then answer
        keys, self.values = keys[order], answers[order]
        self.keys, self.counts = torch.unique_consecutive(keys, return_counts=True)
        self.offsets = torch.cumsum(self.counts, dim=0) - self.counts

    def pairs(self, anchors: Tensor, relations: Tensor) -> tuple[Tensor, Tensor]:
        """(rows, entities) of every known answer of the batch queries, sorted by entity."""
        query = anchors * self.num_relations + relations
        if len(self.keys) == 0:
            empty = torch.empty(0, dtype=torch.int64, device=anchors.device)
            return empty, empty
        position = torch.searchsorted(self.keys, query).clamp(max=len(self.keys) - 1)
        counts = torch.where(self.keys[position] == query, self.counts[position], 0)
        rows = torch.repeat_interleave(torch.arange(len(query), device=query.device), counts)
        starts = self.offsets[position] - (torch.cumsum(counts, dim=0) - counts)  # first slot minus rows before
        entities = self.values[starts[rows] + torch.arange(len(rows), device=query.device)]
        order = torch.argsort(entities, stable=True)
        return rows[order], entities[order]


ChunkScorer = Callable[[Tensor, Tensor, int, int], Tensor]


def _true_scores(
    score: ChunkScorer, a: Tensor, r: Tensor, target: Tensor, chunks: list[tuple[int, int]], entity_chunk: int
) -> Tensor:
    """Score of each query's target, scored with the other candidates of its entity chunk."""
    target_chunk = target // entity_chunk
    parts, positions = [], []
    for c in torch.unique(target_chunk).tolist():
        chosen = (target_chunk == c).nonzero().squeeze(1)
        start, end = chunks[c]
        block = score(a[chosen], r[chosen], start, end)
        parts.append(block[torch.arange(len(chosen), device=block.device), target[chosen] - start])
        positions.append(chosen)
    out = torch.empty(len(target), dtype=parts[0].dtype, device=parts[0].device)
    out[torch.cat(positions)] = torch.cat(parts)
    return out


def _side_ranks(
    score: ChunkScorer,
    anchors: Tensor,
    relations: Tensor,
    targets: Tensor,
    index: _FilterIndex,
    num_entities: int,
    batch_size: int,
    entity_chunk: int,
) -> Tensor:
    chunks = [(start, min(start + entity_chunk, num_entities)) for start in range(0, num_entities, entity_chunk)]
    starts = torch.tensor([start for start, _ in chunks] + [num_entities], device=anchors.device)
    ranks = []
    for begin in range(0, len(targets), batch_size):
        a, r, target = (x[begin : begin + batch_size] for x in (anchors, relations, targets))
        batch = len(target)
        rows_all = torch.arange(batch, device=target.device)
        filter_rows, filter_entities = index.pairs(a, r)
        bounds = torch.searchsorted(filter_entities, starts).tolist()
        single = None
        if len(chunks) == 1:
            single = score(a, r, 0, num_entities)
            true_scores = single[rows_all, target]
        else:  # the true scores first, from the chunk holding each target, so they come from the same kernel
            true_scores = _true_scores(score, a, r, target, chunks, entity_chunk)
        greater = torch.zeros(batch, dtype=torch.int64, device=target.device)
        greater_equal = torch.zeros_like(greater)
        for c, (start, end) in enumerate(chunks):
            scores = single if single is not None else score(a, r, start, end)
            excluded = torch.zeros(batch, end - start, dtype=torch.bool, device=scores.device)
            lo, hi = bounds[c], bounds[c + 1]
            excluded[filter_rows[lo:hi], filter_entities[lo:hi] - start] = True
            inside = (target >= start) & (target < end)
            excluded[rows_all[inside], target[inside] - start] = True
            more, more_or_equal = _count(scores, true_scores, excluded)
            greater += more
            greater_equal += more_or_equal
        ranks.append(_ranks_from_counts(greater, greater_equal))
    return torch.cat(ranks) if ranks else torch.empty(0, dtype=torch.float64, device=anchors.device)


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    if not isinstance(model, nn.Module):
        yield
        return
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _default_device(model: Any, triples: Tensor) -> torch.device:
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            return parameter.device
    return triples.device


def _check_triples(label: str, triples: Tensor, num_entities: int) -> Tensor:
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError(f"{label} must be (n, 3) id rows (head, relation, tail), got {tuple(triples.shape)}")
    triples = triples.long()
    if len(triples) and (triples.min() < 0 or max(triples[:, 0].max(), triples[:, 2].max()) >= num_entities):
        raise ValueError(f"{label} hold entity ids outside [0, {num_entities})")
    return triples


def evaluate_ranking(
    model_or_scorer: CandidateScorer,
    triples: Tensor,
    filter_triples: Tensor | None,
    num_entities: int,
    batch_size: int = 256,
    entity_chunk: int = 4096,
    device: torch.device | str | None = None,
) -> RankingResult:
    """Filtered realistic ranks of the head and tail queries of ``triples`` (n, 3).

    Args:
        model_or_scorer: has ``score_tails(h, r, start, end)`` and ``score_heads(r, t, start, end)`` returning
            (B, end - start) scores, higher = more plausible; an ``nn.Module`` is put in eval mode meanwhile.
        triples: the evaluation triples.
        filter_triples: known true triples to filter (train + valid + test: ``ssl_kd.kg.all_true_triples``);
            None or empty gives the raw setting.
        num_entities: candidates are the entity ids ``[0, num_entities)``.
        batch_size: queries per batch.
        entity_chunk: candidates scored at once.
        device: where to score; defaults to the model's parameters' device.
    """
    if batch_size < 1 or entity_chunk < 1:
        raise ValueError(f"batch_size and entity_chunk must be at least 1, got {batch_size} and {entity_chunk}")
    device = torch.device(device) if device is not None else _default_device(model_or_scorer, triples)
    triples = _check_triples("triples", triples, num_entities).to(device)
    if filter_triples is None:
        filter_triples = torch.empty(0, 3, dtype=torch.int64)
    filter_triples = _check_triples("filter_triples", filter_triples, num_entities).to(device)
    relations = torch.cat([triples[:, 1], filter_triples[:, 1]])
    num_relations = int(relations.max()) + 1 if len(relations) else 1
    h, r, t = triples.unbind(dim=1)
    fh, fr, ft = filter_triples.unbind(dim=1)
    settings = {"num_entities": num_entities, "batch_size": batch_size, "entity_chunk": entity_chunk}
    scorer = model_or_scorer

    def tails(a: Tensor, rel: Tensor, start: int, end: int) -> Tensor:
        return scorer.score_tails(a, rel, start, end)

    def heads(a: Tensor, rel: Tensor, start: int, end: int) -> Tensor:
        return scorer.score_heads(rel, a, start, end)

    with torch.inference_mode(), _eval_mode(scorer):  # tail queries (h, r, ?) answer t; head queries (?, r, t) h
        tail_ranks = _side_ranks(tails, h, r, t, _FilterIndex(fh, fr, ft, num_relations), **settings)
        head_ranks = _side_ranks(heads, t, r, h, _FilterIndex(ft, fr, fh, num_relations), **settings)
    return RankingResult(head_ranks=head_ranks, tail_ranks=tail_ranks)
