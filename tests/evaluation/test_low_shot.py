"""Tests of k-shot sampling and the low-shot probe protocol (docs/methods/probes.md: digits saturate)."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.evaluation.low_shot import low_shot_probe, sample_k_per_class


def _overlapping_blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Five classes in 20-d whose centres come from one fixed seed; the samples from ``seed``."""
    centres = torch.randn(5, 20, generator=torch.Generator().manual_seed(100)) * 1.5
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 5
    return centres[y] + torch.randn(n, 20, generator=generator), y


def test_sample_k_per_class_counts() -> None:
    labels = torch.tensor([0] * 7 + [1] * 2 + [2] * 5)
    indices = sample_k_per_class(labels, 3, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[indices]).tolist() == [3, 2, 3]
    assert len(set(indices.tolist())) == len(indices)


def test_sample_k_per_class_is_deterministic_per_seed() -> None:
    labels = torch.arange(200) % 4

    def draw(seed: int) -> list[int]:
        return sample_k_per_class(labels, 5, torch.Generator().manual_seed(seed)).tolist()

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_sample_k_per_class_rejects_zero_shots() -> None:
    with pytest.raises(ValueError, match="k must"):
        sample_k_per_class(torch.arange(4), 0, torch.Generator())


def test_more_shots_help_and_results_are_deterministic() -> None:
    train_x, train_y = _overlapping_blobs(300, seed=1)
    test_x, test_y = _overlapping_blobs(200, seed=2)
    grid = (1e-3, 1e-1, 1.0)
    results = low_shot_probe(train_x, train_y, test_x, test_y, 5, shots=(1, 10), draws=3, grid=grid)
    assert sorted(results) == [1, 10]
    (mean_1, std_1), (mean_10, std_10) = results[1], results[10]
    assert mean_10 > mean_1 + 0.05
    assert std_1 >= 0 and std_10 >= 0
    again = low_shot_probe(train_x, train_y, test_x, test_y, 5, shots=(1, 10), draws=3, grid=grid)
    assert again == results
    other_seed = low_shot_probe(train_x, train_y, test_x, test_y, 5, shots=(1,), draws=3, grid=grid, seed=1)
    assert other_seed[1] != results[1]


def test_low_shot_rejects_zero_draws() -> None:
    x, y = _overlapping_blobs(50, seed=3)
    with pytest.raises(ValueError, match="draws"):
        low_shot_probe(x, y, x, y, 5, shots=(1,), draws=0)
