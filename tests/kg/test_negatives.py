"""Uniform negative sampling: shapes, range, fair coin, determinism, explicit corrupted triples."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.kg import corrupt, corrupted_triples


def test_shapes_range_and_dtype() -> None:
    triples = torch.tensor([[0, 0, 1], [2, 1, 3], [4, 0, 0]])
    negatives, corrupt_head = corrupt(triples, 7, 5, torch.Generator().manual_seed(0))
    assert negatives.shape == (3, 7) and negatives.dtype == torch.int64
    assert corrupt_head.shape == (3,) and corrupt_head.dtype == torch.bool
    assert negatives.min() >= 0 and negatives.max() < 5


def test_uniform_entities_and_fair_coin() -> None:
    triples = torch.zeros(4000, 3, dtype=torch.int64)
    negatives, corrupt_head = corrupt(triples, 10, 4, torch.Generator().manual_seed(1))
    frequencies = torch.bincount(negatives.flatten(), minlength=4).double() / negatives.numel()
    assert torch.allclose(frequencies, torch.full((4,), 0.25, dtype=torch.float64), atol=0.01)
    assert abs(corrupt_head.double().mean().item() - 0.5) < 0.03


def test_generator_makes_draws_reproducible() -> None:
    triples = torch.zeros(6, 3, dtype=torch.int64)
    first = corrupt(triples, 3, 100, torch.Generator().manual_seed(5))
    second = corrupt(triples, 3, 100, torch.Generator().manual_seed(5))
    other = corrupt(triples, 3, 100, torch.Generator().manual_seed(6))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_corrupted_triples_replace_one_side() -> None:
    triples = torch.tensor([[0, 5, 1], [2, 6, 3]])
    negatives = torch.tensor([[7, 8], [9, 4]])
    out = corrupted_triples(triples, negatives, torch.tensor([True, False]))
    assert out.tolist() == [[[7, 5, 1], [8, 5, 1]], [[2, 6, 9], [2, 6, 4]]]
    assert triples.tolist() == [[0, 5, 1], [2, 6, 3]]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        corrupt(torch.zeros(3, 2, dtype=torch.int64), 1, 3)
    with pytest.raises(ValueError, match="num_negatives"):
        corrupt(torch.zeros(3, 3, dtype=torch.int64), 0, 3)
