"""Low-shot linear probes: k labelled images per class, averaged over random draws (docs/methods/probes.md).

Full-label probes saturate on digits; probes on 1 / 5 / 10 images per class separate representations.
Shots are drawn from a pool whose features (but not labels) are all available, so each probe standardises
with the pool's mean and std rather than the few drawn samples' [reconstruction]. All draws of one shot
count are fitted at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ssl_kd.evaluation.linear_probe import (
    DEFAULT_GRID,
    batched_logits,
    best_weight_decay,
    feature_stats,
    fit_logistic,
    shuffle_within_classes,
    standardize,
    stratified_split,
    topk_accuracy,
)

VAL_FRACTION = 0.2


def sample_k_per_class(labels: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Draw ``k`` random indices of each class (all of a class with fewer than ``k``), grouped by class.

    Args:
        labels: Integer labels ``(N,)``.
        k: Shots per class (>= 1).
        generator: CPU generator; the same seed gives the same draw.

    Returns:
        Indices into ``labels`` on the labels' device.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order, ranks = shuffle_within_classes(labels, generator)
    return order[ranks < k].to(labels.device)


def _draw_sets(labels: Tensor, k: int, draws: int, generator: torch.Generator) -> Tensor:
    """``draws`` independent k-shot index sets ``(draws, m)`` (every draw has the same size)."""
    return torch.stack([sample_k_per_class(labels, k, generator) for _ in range(draws)])


def _draw_accuracies(
    pool_x: Tensor,
    pool_y: Tensor,
    sets: Tensor,
    weight_decays: Tensor,
    eval_x: Tensor,
    eval_y: Tensor,
    num_classes: int,
) -> Tensor:
    """Fit one probe per (weight decay, draw) and return eval top-1 of shape ``weight_decays.shape``.

    Args:
        pool_x: Pool features ``(N, D)``; their mean and std standardise every probe.
        pool_y: Pool labels ``(N,)``.
        sets: k-shot index sets into the pool ``(draws, m)``.
        weight_decays: ``(..., draws)`` L2 strengths, broadcast against the draws.
        eval_x: Evaluation features ``(M, D)``.
        eval_y: Evaluation labels ``(M,)``.
        num_classes: Number of classes.
    """
    mean, std = feature_stats(pool_x)
    weight, bias = fit_logistic(standardize(pool_x[sets], mean, std), pool_y[sets], num_classes, weight_decays)
    logits = batched_logits(standardize(eval_x, mean, std), weight, bias)
    return topk_accuracy(logits, eval_y, 1)


def select_low_shot_weight_decay(
    x: Tensor, y: Tensor, num_classes: int, k: int, draws: int, grid: Sequence[float], seed: int = 0
) -> float:
    """Tune wd for k-shot probes on TRAINING data only: draws from a fit part, scored on the held-out rest.

    Args:
        x: Training features ``(N, D)``.
        y: Training labels ``(N,)``.
        num_classes: Number of classes.
        k: Shots per class.
        draws: Number of k-shot draws the validation top-1 is averaged over.
        grid: Candidate weight decays.
        seed: Seed of the split and the draws.

    Returns:
        The grid value with the best mean validation top-1 (ties go to the larger weight decay).
    """
    generator = torch.Generator().manual_seed(seed)
    fit_idx, val_idx = stratified_split(y, VAL_FRACTION, generator)
    sets = _draw_sets(y[fit_idx], k, draws, generator)
    wds = torch.tensor(list(grid), device=x.device, dtype=torch.float32).unsqueeze(1).expand(-1, draws)
    accuracy = _draw_accuracies(x[fit_idx], y[fit_idx], sets, wds, x[val_idx], y[val_idx], num_classes)
    return best_weight_decay(grid, accuracy.mean(dim=1).tolist())


def low_shot_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    shots: Sequence[int] = (1, 5, 10),
    draws: int = 5,
    grid: Sequence[float] = DEFAULT_GRID,
    seed: int = 0,
) -> dict[int, tuple[float, float]]:
    """k-shot linear probes: wd tuned on train, then ``draws`` random k-shot sets from train scored on test.

    Args:
        train_x: Training features ``(N, D)``.
        train_y: Training labels ``(N,)``.
        test_x: Test features ``(M, D)``.
        test_y: Test labels ``(M,)``.
        num_classes: Number of classes.
        shots: Shot counts k (images per class).
        draws: Random draws per shot count (>= 1).
        grid: Candidate weight decays.
        seed: Seed; each shot count derives its own generator from it, so results are deterministic.

    Returns:
        ``{k: (mean test top-1, std test top-1)}`` over the draws (population std).
    """
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    results = {}
    for k in shots:
        shot_seed = seed * 1_000_003 + k
        wd = select_low_shot_weight_decay(train_x, train_y, num_classes, k, draws, grid, seed=shot_seed)
        sets = _draw_sets(train_y, k, draws, torch.Generator().manual_seed(shot_seed + 1))
        wds = torch.full((draws,), wd, device=train_x.device)
        accuracy = _draw_accuracies(train_x, train_y, sets, wds, test_x, test_y.to(train_x.device), num_classes)
        results[k] = (accuracy.mean().item(), accuracy.std(correction=0).item())
    return results
