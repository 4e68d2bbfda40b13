"""The probe protocol run on one cached feature set: full-label linear probe, kNN and low-shot probes.

docs/methods/probes.md (probes on frozen, unaugmented features; settings tuned on train, never on test) and
the same page on why digits saturate full-label probes (report low-shot probes beside full-label ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from ssl_kd.errors import ConfigError, did_you_mean
from ssl_kd.evaluation.knn import BACKENDS, knn_top1
from ssl_kd.evaluation.linear_probe import DEFAULT_GRID, linear_probe
from ssl_kd.evaluation.low_shot import low_shot_probe


@dataclass
class ProbeProtocol:
    """Probe settings; the defaults are the digits preset (kNN ``k20``, docs/methods/probes.md, [reconstruction]).

    Attributes:
        shots: Low-shot probe sizes (labelled images per class); empty skips low-shot probes.
        draws: Random k-shot draws per shot count.
        knn_k: kNN neighbours.
        knn_temperature: kNN vote temperature.
        knn_backend: ``"auto"``, ``"faiss"`` or ``"torch"``.
        weight_decay_grid: Linear-probe L2 strengths tuned on a split of train.
        seed: Seed of validation splits and k-shot draws.
    """

    shots: tuple[int, ...] = (1, 5, 10)
    draws: int = 5
    knn_k: int = 20
    knn_temperature: float = 0.07
    knn_backend: str = "auto"
    weight_decay_grid: tuple[float, ...] = DEFAULT_GRID
    seed: int = 0

    def __post_init__(self) -> None:
        self.shots = tuple(self.shots)
        self.weight_decay_grid = tuple(self.weight_decay_grid)
        if any(k < 1 for k in self.shots):
            raise ConfigError(f"probe shots must be at least 1, got {list(self.shots)}")
        if self.draws < 1:
            raise ConfigError(f"probe draws must be at least 1, got {self.draws}")
        if self.knn_k < 1:
            raise ConfigError(f"knn_k must be at least 1, got {self.knn_k}")
        if not (math.isfinite(self.knn_temperature) and self.knn_temperature > 0):
            raise ConfigError(f"knn_temperature must be positive, got {self.knn_temperature}")
        if self.knn_backend not in BACKENDS:
            raise ConfigError(
                f"unknown knn_backend {self.knn_backend!r}{did_you_mean(self.knn_backend, BACKENDS)}; "
                f"known: {', '.join(BACKENDS)}"
            )
        if not self.weight_decay_grid or any(wd < 0 for wd in self.weight_decay_grid):
            raise ConfigError(f"weight_decay_grid must be non-empty and >= 0, got {list(self.weight_decay_grid)}")


def linear_metrics(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    protocol: ProbeProtocol,
) -> dict[str, float]:
    """Full-label and low-shot linear probes; see :func:`evaluate_features` for the keys."""
    grid, seed = protocol.weight_decay_grid, protocol.seed
    full = linear_probe(train_x, train_y, test_x, test_y, num_classes, grid=grid, seed=seed)
    metrics = {"linear_top1": full.top1, "linear_top5": full.top5, "linear_weight_decay": full.weight_decay}
    shots = low_shot_probe(
        train_x, train_y, test_x, test_y, num_classes, protocol.shots, protocol.draws, grid=grid, seed=seed
    )
    for k, (mean, std) in shots.items():
        metrics[f"linear_top1_{k}shot"] = mean
        metrics[f"linear_top1_{k}shot_std"] = std
    return metrics


def knn_metrics(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    protocol: ProbeProtocol,
) -> dict[str, float]:
    """``{"knn_top1": ...}``: weighted cosine kNN with the training features as the bank."""
    top1 = knn_top1(
        train_x,
        train_y,
        test_x,
        test_y,
        num_classes,
        k=protocol.knn_k,
        temperature=protocol.knn_temperature,
        backend=protocol.knn_backend,
    )
    return {"knn_top1": top1}


def evaluate_features(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    protocol: ProbeProtocol,
) -> dict[str, float]:
    """Run the full probe protocol on frozen train/test features.

    Args:
        train_x: Training features ``(N, D)``.
        train_y: Training labels ``(N,)``.
        test_x: Test features ``(M, D)``.
        test_y: Test labels ``(M,)``.
        num_classes: Number of classes.
        protocol: Probe settings.

    Returns:
        ``linear_top1``, ``linear_top5``, ``linear_weight_decay``, ``knn_top1`` and, per shot count k,
        ``linear_top1_{k}shot`` and ``linear_top1_{k}shot_std``; accuracies are fractions in 0..1.
    """
    data = (train_x, train_y, test_x, test_y, num_classes, protocol)
    return {**linear_metrics(*data), **knn_metrics(*data)}
