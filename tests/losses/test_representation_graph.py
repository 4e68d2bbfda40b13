"""Representation-graph loss: hand-computed values for both criteria, gradient flow, argument checks."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.losses import RepresentationGraphLoss


def test_hand_computed_values() -> None:
    student = torch.tensor([[[1.0, 2.0]], [[0.0, 1.0]]])  # P = 2 pairs, B = 1
    targets = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]]])
    # mse: (1 + 4 + 1 + 1) / 2 pairs = 3.5; cosine: pair 1 undefined direction of 0 -> F.cosine_similarity gives 0
    assert RepresentationGraphLoss("mse")(student, targets).item() == pytest.approx(3.5)
    assert RepresentationGraphLoss("cosine")(student, targets).item() == pytest.approx(1.0)
    same = torch.randn(3, 4, 6)
    assert RepresentationGraphLoss("cosine")(2 * same, same).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_gradient_flows_to_the_student(kind: str) -> None:
    student = torch.randn(2, 3, 4, requires_grad=True)
    RepresentationGraphLoss(kind)(student, torch.randn(2, 3, 4)).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        RepresentationGraphLoss("mmd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected two"):
        RepresentationGraphLoss()(torch.zeros(2, 3), torch.zeros(2, 3))
