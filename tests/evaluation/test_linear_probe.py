"""Tests of the L-BFGS logistic-regression probe and its train-only weight-decay selection."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ssl_kd.evaluation import linear_probe as lp


def _blobs(n: int, dim: int, classes: int, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator) * 10
    y = torch.arange(n) % classes
    return centres[y] + spread * torch.randn(n, dim, generator=generator), y


def _standardised_blobs(n: int, dim: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _blobs(n, dim, classes, 15.0, seed)
    return lp.standardize(x, *lp.feature_stats(x)), y


def _noisy(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weak signal in 30 of 1000 dimensions and 300 samples: shrinkage should help."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(300) % 2
    x = torch.randn(300, 1000, generator=generator)
    x[:, :30] += 0.25 * (2 * y[:, None] - 1)
    return x, y


def _correlated(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The class is visible only in x0 - x1 under a large shared nuisance: shrinkage should hurt."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(400) % 2
    shared = 5 * torch.randn(400, generator=generator)
    x0 = shared + 0.5 * (2 * y - 1) + 0.1 * torch.randn(400, generator=generator)
    return torch.stack([x0, shared], dim=1), y


def test_separable_blobs_are_solved() -> None:
    train_x, train_y = _blobs(400, 16, 8, 1.0, seed=0)
    test_x, test_y = _blobs(200, 16, 8, 1.0, seed=0)
    result = lp.linear_probe(train_x, train_y, test_x, test_y, 8)
    assert result.top1 >= 0.99
    assert result.top5 >= result.top1
    assert result.weight_decay in lp.DEFAULT_GRID


def test_top5_at_least_top1_on_hard_data() -> None:
    train_x, train_y = _blobs(300, 8, 10, 12.0, seed=1)
    test_x, test_y = _blobs(300, 8, 10, 12.0, seed=2)
    result = lp.linear_probe(train_x, train_y, test_x, test_y, 10, grid=(1e-3, 1e-1))
    assert 0.0 < result.top1 < result.top5 <= 1.0


def test_selection_sees_only_training_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    train_x, train_y = _blobs(100, 4, 3, 1.0, seed=3)
    test_x, test_y = _blobs(50, 4, 3, 1.0, seed=4)
    seen: list[tuple[torch.Tensor, ...]] = []

    def spy(x: torch.Tensor, y: torch.Tensor, *args: object, **kwargs: object) -> float:
        seen.append((x, y))
        return 1e-3

    monkeypatch.setattr(lp, "select_weight_decay", spy)
    assert lp.linear_probe(train_x, train_y, test_x, test_y, 3).weight_decay == 1e-3
    assert len(seen) == 1 and seen[0][0] is train_x and seen[0][1] is train_y


def test_noisy_features_select_larger_weight_decay() -> None:
    grid = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    noisy = lp.select_weight_decay(*_noisy(0), 2, grid)
    correlated = lp.select_weight_decay(*_correlated(0), 2, grid)
    assert noisy >= 0.1
    assert correlated <= 1e-2


def test_ties_go_to_larger_weight_decay() -> None:
    assert lp.best_weight_decay([1e-3, 1e-2, 1e-1], [0.9, 0.95, 0.95]) == 1e-1
    assert lp.best_weight_decay([1e-3, 1e-2, 1e-1], [0.97, 0.95, 0.95]) == 1e-3


def _objective_grad(
    z: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, wd: float
) -> tuple[torch.Tensor, ...]:
    weight, bias = weight.clone().requires_grad_(), bias.clone().requires_grad_()
    loss = F.cross_entropy(z @ weight + bias, y) + 0.5 * wd * weight.square().sum()
    return torch.autograd.grad(loss, (weight, bias))


@pytest.mark.parametrize("dim", [5, 200])  # 200 > n takes the row-space reparametrisation
def test_fit_reaches_the_optimum(dim: int) -> None:
    z, y = _standardised_blobs(60, dim, 3, seed=5)
    weight, bias = lp.fit_logistic(z, y, 3, torch.tensor(0.1))
    grads = _objective_grad(z, y, weight, bias, 0.1)
    assert max(g.abs().max().item() for g in grads) < 1e-4


def test_batched_fit_matches_separate_fits() -> None:
    z, y = _standardised_blobs(80, 6, 4, seed=6)
    wds = torch.tensor([1e-2, 1e-1, 1.0])
    weight, bias = lp.fit_logistic(z, y, 4, wds)
    assert weight.shape == (3, 6, 4) and bias.shape == (3, 4)
    assert weight[0].norm() > weight[1].norm() > weight[2].norm()
    for i, wd in enumerate(wds):
        single_w, single_b = lp.fit_logistic(z, y, 4, wd)
        assert torch.allclose(weight[i], single_w, atol=1e-2)
        assert torch.allclose(bias[i], single_b, atol=1e-2)


def test_fitted_probe_predicts_logits() -> None:
    x, y = _blobs(90, 5, 3, 1.0, seed=7)
    probe = lp.fit_linear_probe(x, y, 3, weight_decay=1e-3)
    logits = probe.predict(x)
    assert logits.shape == (90, 3)
    assert torch.equal(probe(x), logits)
    assert (logits.argmax(1) == y).float().mean() == 1.0


def test_stratified_split_is_disjoint_and_per_class() -> None:
    y = torch.arange(100) % 4
    fit, val = lp.stratified_split(y, 0.2, torch.Generator().manual_seed(0))
    assert sorted(torch.cat([fit, val]).tolist()) == list(range(100))
    assert torch.bincount(y[val], minlength=4).tolist() == [5, 5, 5, 5]
    with pytest.raises(ValueError, match="val_fraction"):
        lp.stratified_split(y, 1.0, torch.Generator())
