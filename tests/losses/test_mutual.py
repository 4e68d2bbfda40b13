"""MutualLearningLoss against hand-computed values; peer targets get no gradient."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses import MutualLearningLoss


def _peers() -> tuple[torch.Tensor, torch.Tensor]:
    # softmax([ln 3, 0]) = [0.75, 0.25]; softmax([0, 0]) = [0.5, 0.5]
    return torch.tensor([[math.log(3.0), 0.0]], requires_grad=True), torch.zeros(1, 2, requires_grad=True)


def test_known_values_two_peers() -> None:
    a, b = _peers()
    terms = MutualLearningLoss(tau=1.0)([a, b], torch.tensor([0]))
    assert terms["ce_0"].item() == pytest.approx(-math.log(0.75), rel=1e-6)
    assert terms["ce_1"].item() == pytest.approx(math.log(2.0), rel=1e-6)
    assert terms["kd_0"].item() == pytest.approx(0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25), rel=1e-6)
    assert terms["kd_1"].item() == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), rel=1e-6)


def test_weights_scale_terms() -> None:
    a, b = _peers()
    plain = MutualLearningLoss()([a, b], torch.tensor([0]))
    weighted = MutualLearningLoss(ce_weight=2.0, kd_weight=3.0)([a, b], torch.tensor([0]))
    assert weighted["ce_0"].item() == pytest.approx(2 * plain["ce_0"].item())
    assert weighted["kd_1"].item() == pytest.approx(3 * plain["kd_1"].item())


def test_kd_term_of_a_peer_moves_only_that_peer() -> None:
    a, b = _peers()
    MutualLearningLoss()([a, b], torch.tensor([0]))["kd_0"].backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert b.grad is None


def test_three_peers_average_the_kl_terms() -> None:
    logits = [torch.randn(4, 5) for _ in range(3)]
    loss = MutualLearningLoss(tau=2.0)
    kl = loss.soft_target
    expected = (kl(logits[0], logits[1]) + kl(logits[0], logits[2])) / 2
    assert loss(logits, torch.zeros(4, dtype=torch.long))["kd_0"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_rejects_a_single_peer() -> None:
    with pytest.raises(ValueError, match="at least 2 peers"):
        MutualLearningLoss()([torch.zeros(1, 2)], torch.tensor([0]))
