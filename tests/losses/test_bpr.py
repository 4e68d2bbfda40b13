"""BPR loss: −Σ log σ(s_ui − s_uj), values and gradients by hand."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses.bpr import BPRLoss


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_value_and_gradients_by_hand() -> None:
    positive = torch.tensor([2.0, 0.0], requires_grad=True)
    negative = torch.tensor([0.0, 0.0], requires_grad=True)
    loss = BPRLoss()(positive, negative)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)) + math.log(2))
    loss.backward()
    expected = torch.tensor([-sigmoid(-2.0), -0.5])
    assert torch.allclose(positive.grad, expected) and torch.allclose(negative.grad, -expected)


def test_sum_not_mean_and_stable_for_large_margins() -> None:
    loss = BPRLoss()(torch.tensor([-200.0, -200.0]), torch.tensor([0.0, 0.0]))
    assert torch.isfinite(loss) and abs(loss.item() - 400.0) < 1e-3
