"""Full-ranking Precision / Recall / NDCG @ k against rankings worked out by hand, seen items excluded."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from ssl_kd.evaluation.topk import UserItems, evaluate_topk


class FixedScores:
    """A scorer returning rows of a fixed (users, items) score table."""

    def __init__(self, scores: list[list[float]]) -> None:
        self.scores = torch.tensor(scores)

    def score_items(self, users: Tensor) -> Tensor:
        return self.scores[users]


SCORES = FixedScores([[5, 4, 3, 2, 1], [1, 2, 3, 4, 5], [1, 1, 1, 1, 1]])
TRAIN = UserItems.from_pairs(torch.tensor([[0, 0], [1, 4], [2, 1]]), 3)
VALID = UserItems.from_pairs(torch.tensor([[1, 3]]), 3)
TEST = UserItems.from_pairs(torch.tensor([[0, 4], [0, 2], [1, 0]]), 3)  # user 2 has no test items: not evaluated


def dcg(*ranks: int) -> float:
    return sum(1 / math.log2(rank + 2) for rank in ranks)


@pytest.mark.parametrize("chunk", [1, 2, 16])
def test_metrics_by_hand_with_training_and_validation_items_excluded(chunk: int) -> None:
    metrics = evaluate_topk(SCORES, TEST, [TRAIN, VALID], num_items=5, ks=(1, 2, 3), user_chunk=chunk)
    # user 0: item 0 excluded -> ranking 1, 2, 3, 4; test {2, 4}: hit at rank index 1
    # user 1: items 4 (train) and 3 (valid) excluded -> ranking 2, 1, 0; test {0}: hit at rank index 2
    expected = {
        "precision_at_1": 0.0,
        "recall_at_1": 0.0,
        "ndcg_at_1": 0.0,
        "precision_at_2": (1 / 2 + 0) / 2,
        "recall_at_2": (1 / 2 + 0) / 2,
        "ndcg_at_2": (dcg(1) / dcg(0, 1) + 0) / 2,
        "precision_at_3": (1 / 3 + 1 / 3) / 2,
        "recall_at_3": (1 / 2 + 1) / 2,
        "ndcg_at_3": (dcg(1) / dcg(0, 1) + dcg(2) / dcg(0)) / 2,
    }
    assert metrics.pop("users") == 2
    assert metrics == pytest.approx(expected)


def test_without_exclusion_seen_items_take_the_top_places() -> None:
    metrics = evaluate_topk(SCORES, UserItems.from_pairs(torch.tensor([[0, 0]]), 3), [], num_items=5, ks=(1,))
    assert metrics["precision_at_1"] == 1.0 and metrics["users"] == 1
    excluded = evaluate_topk(SCORES, UserItems.from_pairs(torch.tensor([[0, 0]]), 3), [TRAIN], num_items=5, ks=(1,))
    assert excluded["precision_at_1"] == 0.0  # its own training item can never be a hit once excluded


def test_cut_off_beyond_the_item_count_ranks_every_item() -> None:
    metrics = evaluate_topk(SCORES, TEST, [TRAIN, VALID], num_items=5, ks=(10,))
    assert metrics["recall_at_10"] == pytest.approx(1.0) and metrics["precision_at_10"] == pytest.approx(3 / 20)


def test_user_items_chunks_are_per_user() -> None:
    rows, items = TEST.chunk(0, 2)
    assert TEST.counts().tolist() == [2, 1, 0]
    assert rows.tolist() == [0, 0, 1] and sorted(items[:2].tolist()) == [2, 4] and items[2].item() == 0
