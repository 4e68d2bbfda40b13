"""KEnS ensemble: votes, transfer of supporter top-k, filtered realistic Hits, MRR and boosting weights by hand."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.kg.ensemble import (
    alignment_map,
    boosting_round_weights,
    boosting_signs,
    boosting_weights,
    ensemble_scores,
    filtered_hits,
    learn_weights,
    map_ids,
    mrr_weights,
    query_weights,
    realistic_ranks,
    tail_filter_mask,
    transfer_topk,
)

# One query, six entities, three models (target first).
TOPK = [torch.tensor([[0, 1, 2]]), torch.tensor([[3, 1, 4]]), torch.tensor([[3, 5, 1]])]


def test_majority_and_weighted_votes_by_hand() -> None:
    majority = ensemble_scores(TOPK, learn_weights("majority", TOPK), 6)
    assert majority.tolist() == [[1.0, 3.0, 1.0, 2.0, 1.0, 1.0]]
    weighted = ensemble_scores(TOPK, learn_weights("weighted", TOPK), 6)
    assert weighted[0].tolist() == pytest.approx([1.0, 1.6, 1.0, 0.6, 0.3, 0.3])
    true = torch.tensor([3])
    assert realistic_ranks(majority, true).item() == 2.0  # only entity 1 outvotes 3
    assert realistic_ranks(weighted, true).item() == 4.0  # entities 0, 1, 2 outvote it
    assert filtered_hits(majority, true)["hits@3"] == 1.0 and filtered_hits(weighted, true)["hits@3"] == 0.0


def test_per_query_weights_and_ignored_padding() -> None:
    topk = [torch.tensor([[0, -1], [1, 1]]), torch.tensor([[2, 0], [-1, -1]])]
    votes = ensemble_scores(topk, torch.tensor([[2.0, 1.0], [1.0, 5.0]]), 3)
    assert votes.tolist() == [[3.0, 0.0, 1.0], [0.0, 1.0, 0.0]]  # a duplicate counts once, -1 never
    with pytest.raises(ValueError, match="weights"):
        ensemble_scores(topk, torch.ones(3), 3)


def test_realistic_ranks_with_ties_and_filter() -> None:
    votes = ensemble_scores(TOPK, torch.ones(3), 6)
    # true 0 (1 vote): 2 better (1, 3), 3 tied others (2, 4, 5) -> 1 + 2 + 1.5
    assert realistic_ranks(votes, torch.tensor([0])).item() == 4.5
    mask = torch.tensor([[False, True, False, False, False, True]])
    assert realistic_ranks(votes, torch.tensor([0]), mask).item() == 1 + 1 + 1.0
    assert realistic_ranks(votes, torch.tensor([3]), mask).item() == 1.0
    metrics = filtered_hits(votes, torch.tensor([3]), mask, ks=(1,))
    assert metrics == {"hits@1": 1.0, "mrr": 1.0}


def test_alignment_map_and_transfer_topk_drop_unlinked_entities() -> None:
    to_sup = alignment_map(torch.tensor([[0, 2], [2, 0], [3, 3]]), 5)
    assert to_sup.tolist() == [2, -1, 0, 3, -1]
    assert map_ids(torch.tensor([1, 3, -1]), to_sup).tolist() == [-1, 3, -1]
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3], [0.0, 0.0, 0.0, 0.0]])  # supporter entity 1 has no counterpart
    top = transfer_topk(scores, to_sup, 4, valid_rows=torch.tensor([True, False]))
    assert top.tolist() == [[0, 3, 2, -1], [-1, -1, -1, -1]]
    assert transfer_topk(scores[:1], to_sup, 2).tolist() == [[0, 3]]


def test_tail_filter_mask() -> None:
    queries = torch.tensor([[0, 0, 1], [0, 0, 2], [1, 0, 1]])
    known = torch.tensor([[0, 0, 1], [0, 0, 2], [0, 0, 3], [1, 1, 2], [1, 0, 1]])
    mask = tail_filter_mask(queries, known, 4)
    assert mask.tolist() == [[False, False, True, True], [False, True, False, True], [False] * 4]


def test_mrr_weights_from_top_lists() -> None:
    true = torch.tensor([2, 0])
    lists = [torch.tensor([[1, 2, 3], [1, 2, 3]]), torch.tensor([[2, 1, 3], [3, 1, 0]])]
    assert mrr_weights(lists, true).tolist() == pytest.approx([0.25, (1.0 + 1 / 3) / 2])
    mask = torch.zeros(2, 4, dtype=torch.bool)
    mask[:, 1] = True  # filtering entity 1 moves hits behind it up by one position
    assert learn_weights("mrr", lists, true, filter_mask=mask).tolist() == pytest.approx([0.5, (1.0 + 1 / 2) / 2])


def test_boosting_round_formula_by_hand() -> None:
    signs = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, -1.0]])
    counts = torch.tensor([4.0, 1.0, 1.0, 1.0])
    # round 1: α0 = ½ ln(6/1) beats α1 = ½ ln(5/2); reweighting by exp(-α0 s) leaves model 1 with
    # correct ∝ 4/√6 + √6, wrong ∝ 2/√6, so α1 = ½ ln 5 in round 2; then +1
    weights = boosting_round_weights(signs, counts, rounds=5)
    assert weights.tolist() == pytest.approx([1 + 0.5 * math.log(6.0), 1 + 0.5 * math.log(5.0)], rel=1e-5)
    one_round = boosting_round_weights(signs, counts, rounds=1)
    assert one_round.tolist() == pytest.approx([1 + 0.5 * math.log(6.0), 1.0], rel=1e-5)


def test_boosting_signs_by_hand() -> None:
    # true tail 2; model 0 lists 4 before it; model 1 misses it, so all its listed entities are wrong
    topk = torch.tensor([[[4, 2, 0], [1, 3, 0]]])
    signs, counts = boosting_signs(topk, torch.tensor([2]), num_entities=5)
    assert signs.tolist() == [[1, -1], [1, -1], [1, -1], [-1, 1], [1, 1]]  # entities 0, 1, 3, 4, then the rest
    assert counts.tolist() == [1, 1, 1, 1, 1]
    signs, counts = boosting_signs(topk, torch.tensor([2]), 5, extra_wrong=torch.tensor([0, 3]))
    assert counts[-1].item() == 5 - (len(signs) - 1) and (signs[:-1] == -1).any(dim=1).all()


def test_boosting_weights_are_entity_specific() -> None:
    # 11 validation triples with head 0 (more than 10): model 0 always right first, model 1 always wrong first
    heads = torch.zeros(11, dtype=torch.long)
    true = torch.full((11,), 2)
    lists = [torch.tensor([[2, 1]] * 11), torch.tensor([[1, 2]] * 11)]
    weights = learn_weights("boosting", lists, true, heads=heads, num_entities=4, miss_scale=None)
    signs, counts = boosting_signs(torch.stack(lists, dim=1), true, 4)
    assert weights[0].tolist() == pytest.approx(boosting_round_weights(signs, counts).tolist())
    assert weights[0, 0] > weights[0, 1] > 1.0  # model 1 is right on all datapoints but one per query
    assert weights[1].tolist() == [1.0, 1.0] and weights[3].tolist() == [1.0, 1.0]
    assert weights[2, 0] > 1.0  # entity 2 is the tail of all 11 triples
    per_query = query_weights(weights, torch.tensor([0, 1]))
    assert per_query.tolist() == [weights[0].tolist(), [1.0, 1.0]]
    assert query_weights(torch.ones(2), torch.tensor([0, 1, 2])).shape == (3, 2)


def test_boosting_miss_penalty_uses_validation_hits() -> None:
    heads = torch.zeros(12, dtype=torch.long)
    true = torch.arange(12) % 3
    lists = [torch.stack([true, (true + 1) % 3], dim=1), torch.full((12, 2), 5)]  # model 1 always misses
    plain = boosting_weights(lists, true, heads, 6, miss_scale=None)
    penalised = boosting_weights(lists, true, heads, 6, miss_scale=100.0, seed=3)
    assert penalised[0, 1] < plain[0, 1]  # random extra wrong entities lower the missing model's weight
    assert torch.equal(penalised, boosting_weights(lists, true, heads, 6, miss_scale=100.0, seed=3))


def test_learn_weights_errors() -> None:
    with pytest.raises(ValueError, match="unknown ensemble"):
        learn_weights("median", TOPK, torch.tensor([0]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="heads"):
        learn_weights("boosting", TOPK, torch.tensor([0]))
