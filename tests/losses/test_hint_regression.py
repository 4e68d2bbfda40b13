"""HintLoss against hand-computed values; the teacher hint gets no gradient."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.losses import HintLoss


def test_known_value_and_gradient() -> None:
    student = torch.tensor([[1.0, 2.0]], requires_grad=True)
    teacher = torch.zeros(1, 2, requires_grad=True)
    loss = HintLoss()(student, teacher)
    assert loss.item() == pytest.approx(0.5 * (1 + 4) / 2)
    loss.backward()
    assert torch.allclose(student.grad, torch.tensor([[0.5, 1.0]]))
    assert teacher.grad is None


def test_zero_when_equal_on_feature_maps() -> None:
    maps = torch.randn(2, 3, 4, 4)
    assert HintLoss()(maps, maps.clone()).item() == 0.0


def test_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        HintLoss()(torch.zeros(1, 2), torch.zeros(1, 3))
