"""AlignmentLoss against hand-computed distances and gradients."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.losses.alignment import AlignmentLoss


def test_mean_and_sum_of_link_distances() -> None:
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[3.0, 4.0], [1.0, 2.0]])  # distances 5 and 1
    assert AlignmentLoss()(a, b).item() == pytest.approx(3.0, rel=1e-6)
    assert AlignmentLoss("sum")(a, b).item() == pytest.approx(6.0, rel=1e-6)


def test_gradient_is_the_unit_difference_and_finite_at_zero() -> None:
    a = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)
    b = torch.tensor([[3.0, 4.0], [2.0, 2.0]], requires_grad=True)
    AlignmentLoss("sum")(a, b).backward()
    assert a.grad[0].tolist() == pytest.approx([-0.6, -0.8], rel=1e-6)
    assert b.grad[0].tolist() == pytest.approx([0.6, 0.8], rel=1e-6)
    assert torch.isfinite(a.grad).all() and a.grad[1].abs().max() < 1e-5


def test_rejects_bad_shapes_and_reduction() -> None:
    with pytest.raises(ValueError, match="one shape"):
        AlignmentLoss()(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="reduction"):
        AlignmentLoss("max")  # type: ignore[arg-type]
