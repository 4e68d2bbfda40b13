"""FeatureMimicLoss against hand-computed values and gradients; the teacher levels get no gradient."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.losses.feature_mimic import FeatureMimicLoss


def test_known_value_and_gradient_over_levels() -> None:
    first, second = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0], requires_grad=True)
    teacher = [torch.zeros(2, requires_grad=True), torch.ones(1, requires_grad=True)]
    loss = FeatureMimicLoss(weight=2.0)([first, second], teacher)
    assert loss.item() == pytest.approx(2.0 * (2.5 + 4.0) / 2)  # level means (1 + 4) / 2 and 2^2, averaged
    loss.backward()
    assert torch.allclose(first.grad, torch.tensor([1.0, 2.0]))  # 2 * 2 (s - t) / 2 / 2
    assert torch.allclose(second.grad, torch.tensor([4.0]))  # 2 * 2 * 2 / 1 / 2
    assert all(level.grad is None for level in teacher)


def test_rejects_mismatched_levels() -> None:
    with pytest.raises(ValueError, match="level 0"):
        FeatureMimicLoss()([torch.zeros(1, 2, 4, 4)], [torch.zeros(1, 3, 4, 4)])
    with pytest.raises(ValueError, match="number of levels"):
        FeatureMimicLoss()([torch.zeros(1)], [])
