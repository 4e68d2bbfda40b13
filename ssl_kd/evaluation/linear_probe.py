"""Linear probe: multinomial logistic regression on frozen, cached features (docs/methods/probes.md).

Features are standardised with the fit set's mean and std; the objective is
``mean_i CE(W^T z_i + b, y_i) + wd / 2 * ||W||^2`` (bias unpenalised), minimised full-batch with L-BFGS in
torch, so it runs wherever the tensors live (CPU or CUDA). The weight decay is tuned on a stratified
validation split of the training data, never on test (solo-learn#337).

Several probes are fitted at once (a batch of weight decays and/or of training sets). When the feature
dimension exceeds the number of samples, the fit runs in the row space of the features: with ``z^T = Q R``
and ``W = Q A``, ``z W = R^T A`` and ``||W|| = ||A||``, an exact reparametrisation (the optimum and the
L-BFGS iterates from zero lie in that row space anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_GRID: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MAX_ITER = 100
_MIN_STD = 1e-6


@dataclass
class ProbeResult:
    """Test accuracies (fractions in 0..1) of a linear probe and the weight decay it used."""

    top1: float
    top5: float
    weight_decay: float


class LinearProbe(nn.Module):
    """Standardise with stored statistics, then apply a linear layer: ``((x - mean) / std) @ W + b``."""

    def __init__(self, mean: Tensor, std: Tensor, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)

    def predict(self, x: Tensor) -> Tensor:
        """Class logits ``(N, C)`` for raw features ``x`` ``(N, D)``."""
        return standardize(x, self.mean, self.std) @ self.weight + self.bias

    def forward(self, x: Tensor) -> Tensor:
        return self.predict(x)


def feature_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-dimension mean and std (std floored at 1e-6 so constant dimensions map to zero)."""
    x = x.float()
    return x.mean(dim=0), x.std(dim=0, correction=0).clamp_min(_MIN_STD)


def standardize(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(x - mean) / std`` in float32."""
    return (x.float() - mean) / std


def _row_space(z: Tensor) -> tuple[Tensor, Tensor | None]:
    """``(coords, basis)`` with ``z = coords @ basis^T``; ``basis`` is None (no change) when ``D <= n``."""
    if z.shape[-1] <= z.shape[-2]:
        return z, None
    basis, r = torch.linalg.qr(z.mT)
    return r.mT, basis


def fit_logistic(
    z: Tensor, y: Tensor, num_classes: int, weight_decays: Tensor, max_iter: int = MAX_ITER
) -> tuple[Tensor, Tensor]:
    """Fit a batch of independent L2-regularised multinomial logistic regressions with full-batch L-BFGS.

    Args:
        z: Standardised features ``(*Bz, n, D)``; ``Bz`` broadcasts to ``weight_decays``' shape ``B``.
        y: Labels ``(*Bz, n)``.
        num_classes: Number of classes ``C``.
        weight_decays: L2 strengths ``(*B,)``, one per problem.
        max_iter: L-BFGS iterations.

    Returns:
        ``(weight, bias)`` of shapes ``(*B, D, C)`` and ``(*B, C)``.
    """
    coords, basis = _row_space(z)
    batch = weight_decays.shape
    a = coords.new_zeros((*batch, coords.shape[-1], num_classes), requires_grad=True)
    b = coords.new_zeros((*batch, num_classes), requires_grad=True)
    targets = y.long().expand(*batch, y.shape[-1]).reshape(-1)
    optimizer = torch.optim.LBFGS([a, b], max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = (coords @ a + b.unsqueeze(-2)).reshape(-1, num_classes)
        ce = F.cross_entropy(logits, targets, reduction="sum") / y.shape[-1]
        loss = ce + 0.5 * (weight_decays * a.square().sum(dim=(-2, -1))).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    weight = a.detach() if basis is None else basis @ a.detach()
    return weight, b.detach()


def batched_logits(z: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Logits ``(*B, n, C)`` of standardised features ``z`` ``(n, D)`` under a batch of probes."""
    return z @ weight + bias.unsqueeze(-2)


def topk_accuracy(logits: Tensor, y: Tensor, k: int) -> Tensor:
    """Fraction of rows whose label is among the ``min(k, C)`` largest logits, per leading batch entry."""
    top = logits.topk(min(k, logits.shape[-1]), dim=-1).indices
    return (top == y.unsqueeze(-1)).any(dim=-1).float().mean(dim=-1)


def shuffle_within_classes(labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Randomly order the samples grouped by class, and give each its rank within its class.

    Args:
        labels: Integer labels ``(N,)``.
        generator: CPU generator for the permutation.

    Returns:
        ``(order, ranks)``: indices ``(N,)`` grouped by class (shuffled within), and each one's class rank.
    """
    labels = labels.cpu().long()
    perm = torch.randperm(labels.numel(), generator=generator)
    order = perm[torch.argsort(labels[perm], stable=True)]
    counts = torch.bincount(labels)
    starts = counts.cumsum(0) - counts
    ranks = torch.arange(labels.numel()) - starts[labels[order]]
    return order, ranks


def stratified_split(labels: Tensor, val_fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split indices into fit/val with ``round(val_fraction * n_c)`` val samples per class.

    Every class with at least two samples keeps at least one sample on each side.

    Returns:
        ``(fit_indices, val_indices)`` on the labels' device.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    order, ranks = shuffle_within_classes(labels, generator)
    counts = torch.bincount(labels.cpu().long())
    n_val = (counts * val_fraction).round().long().clamp(min=1).minimum(counts - 1)
    is_val = ranks < n_val[labels.cpu().long()[order]]
    return order[~is_val].to(labels.device), order[is_val].to(labels.device)


def best_weight_decay(grid: Sequence[float], scores: Sequence[float]) -> float:
    """The grid value with the best score; ties go to the larger weight decay."""
    return max(zip(scores, grid, strict=True))[1]


def fit_linear_probe(
    x: Tensor, y: Tensor, num_classes: int, weight_decay: float, max_iter: int = MAX_ITER
) -> LinearProbe:
    """Fit one linear probe on raw features ``x`` ``(N, D)`` and labels ``y`` ``(N,)``.

    Args:
        x: Frozen features; standardised with their own mean and std.
        y: Labels in ``[0, num_classes)``.
        num_classes: Number of classes.
        weight_decay: L2 strength ``wd`` in ``wd / 2 * ||W||^2``.
        max_iter: L-BFGS iterations.

    Returns:
        The fitted :class:`LinearProbe`.
    """
    mean, std = feature_stats(x)
    wd = torch.tensor(weight_decay, device=x.device)
    weight, bias = fit_logistic(standardize(x, mean, std), y, num_classes, wd, max_iter)
    return LinearProbe(mean, std, weight, bias)


def select_weight_decay(
    x: Tensor, y: Tensor, num_classes: int, grid: Sequence[float], val_fraction: float = 0.2, seed: int = 0
) -> float:
    """Choose the weight decay by validation top-1 on a stratified split of the TRAINING data only.

    Args:
        x: Training features ``(N, D)``.
        y: Training labels ``(N,)``.
        num_classes: Number of classes.
        grid: Candidate weight decays; all are fitted at once.
        val_fraction: Fraction of each class held out for validation.
        seed: Seed of the split.

    Returns:
        The grid value with the best validation top-1 (ties go to the larger weight decay).
    """
    fit_idx, val_idx = stratified_split(y, val_fraction, torch.Generator().manual_seed(seed))
    mean, std = feature_stats(x[fit_idx])
    wds = torch.tensor(list(grid), device=x.device, dtype=torch.float32)
    weight, bias = fit_logistic(standardize(x[fit_idx], mean, std), y[fit_idx], num_classes, wds)
    logits = batched_logits(standardize(x[val_idx], mean, std), weight, bias)
    return best_weight_decay(grid, topk_accuracy(logits, y[val_idx], 1).tolist())


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    grid: Sequence[float] = DEFAULT_GRID,
    seed: int = 0,
) -> ProbeResult:
    """Full-label linear probe: tune wd on a split of train, refit on all of train, score on test.

    Args:
        train_x: Training features ``(N, D)``.
        train_y: Training labels ``(N,)``.
        test_x: Test features ``(M, D)``.
        test_y: Test labels ``(M,)``.
        num_classes: Number of classes.
        grid: Candidate weight decays.
        seed: Seed of the validation split.

    Returns:
        Test top-1 and top-5 (top-5 is 1.0 when there are at most 5 classes) and the chosen weight decay.
    """
    weight_decay = select_weight_decay(train_x, train_y, num_classes, grid, seed=seed)
    probe = fit_linear_probe(train_x, train_y, num_classes, weight_decay)
    logits = probe.predict(test_x)
    test_y = test_y.to(logits.device)
    return ProbeResult(
        top1=topk_accuracy(logits, test_y, 1).item(),
        top5=topk_accuracy(logits, test_y, 5).item(),
        weight_decay=weight_decay,
    )
