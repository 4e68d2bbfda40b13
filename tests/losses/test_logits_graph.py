"""Logits-graph loss: hand-computed EMD values, edge weights, gradient flow, argument checks."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses import LogitsGraphLoss
from ssl_kd.losses.logits_graph import emd_zero_one

LOG3 = math.log(3.0)


def test_hand_computed_value() -> None:
    student = torch.zeros(1, 2)  # p_s = [0.5, 0.5]
    teachers = torch.tensor([[[LOG3, 0.0]], [[0.0, 0.0]]])  # p_1 = [0.75, 0.25], p_2 = [0.5, 0.5]
    # EMD(p_s, p_1) = 0.5 * (0.25 + 0.25) = 0.25, EMD(p_s, p_2) = 0; uniform weights 1/2 -> 0.125
    assert LogitsGraphLoss()(student, teachers).item() == pytest.approx(0.125, abs=1e-6)
    # tau = 2 halves the logits: p_1 = softmax([log3 / 2, 0]) = [sqrt3, 1] / (sqrt3 + 1)
    p1 = math.sqrt(3) / (math.sqrt(3) + 1)
    assert LogitsGraphLoss(tau=2.0)(student, teachers).item() == pytest.approx(0.5 * (p1 - 0.5), abs=1e-6)


def test_kl_criterion_hand_computed_value_and_gradient() -> None:
    student = torch.zeros(1, 2, requires_grad=True)  # p_s = [0.5, 0.5]
    teachers = torch.tensor([[[LOG3, 0.0]], [[0.0, 0.0]]])  # p_1 = [0.75, 0.25], p_2 = p_s
    # KL(p_1 || p_s) = 0.75 ln 1.5 + 0.25 ln 0.5, KL(p_2 || p_s) = 0; uniform weights 1/2; tau^2 = 1
    expected = 0.5 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    value = LogitsGraphLoss(criterion="kl")(student, teachers)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    value.backward()
    # d/dz_s of w_k KL(p_k || softmax(z_s)) = w_k (p_s - p_k): 0.5 * ([0.5, 0.5] - [0.75, 0.25]) + 0
    assert student.grad is not None
    assert student.grad[0].tolist() == pytest.approx([-0.125, 0.125], abs=1e-6)


def test_kl_criterion_scales_with_tau_squared() -> None:
    student, teachers = torch.zeros(1, 2), torch.tensor([[[LOG3, 0.0]]])
    p1 = math.sqrt(3) / (math.sqrt(3) + 1)  # softmax([ln 3 / 2, 0])
    kl = p1 * math.log(p1 / 0.5) + (1 - p1) * math.log((1 - p1) / 0.5)
    assert LogitsGraphLoss(tau=2.0, criterion="kl")(student, teachers).item() == pytest.approx(4 * kl, rel=1e-6)


def test_emd_is_total_variation() -> None:
    p, q = torch.tensor([0.2, 0.3, 0.5]), torch.tensor([0.5, 0.3, 0.2])
    assert emd_zero_one(p, q).item() == pytest.approx(0.3)


def test_pairwise_emd_weights_favour_the_consensus() -> None:
    probs = torch.tensor([[[0.5, 0.5]], [[0.5, 0.5]], [[1.0, 0.0]]])  # teachers 1 and 2 agree, 3 is off by 0.5
    weights = LogitsGraphLoss(teacher_weights="pairwise_emd", weight_temperature=0.5).edge_weights(probs)
    # disagreement a = [0.25, 0.25, 0.5] -> softmax(-a / 0.5) = softmax([-0.5, -0.5, -1.0])
    expected = torch.softmax(torch.tensor([-0.5, -0.5, -1.0]), 0)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert LogitsGraphLoss(teacher_weights="pairwise_emd").edge_weights(probs[:1]).tolist() == [1.0]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("criterion", ["emd", "kl"])
def test_zero_when_student_matches_and_gradient_reaches_only_the_student(batch: int, criterion: str) -> None:
    logits = torch.randn(batch, 5)
    loss = LogitsGraphLoss(criterion=criterion)  # type: ignore[arg-type]
    assert loss(logits, torch.stack([logits, logits])).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(batch, 5, requires_grad=True)
    teachers = torch.randn(2, batch, 5, requires_grad=True)
    loss(student, teachers).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teachers.grad is None


def test_loss_decreases_under_gradient_descent() -> None:
    torch.manual_seed(0)
    teachers = torch.randn(3, 8, 4)
    teachers[1:] = teachers[0]  # consistent teachers: the student can match all of them
    student = torch.zeros(8, 4, requires_grad=True)
    optimizer = torch.optim.SGD([student], lr=2.0)
    loss = LogitsGraphLoss()
    values = []
    for _ in range(20):
        value = loss(student, teachers)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="tau"):
        LogitsGraphLoss(tau=0.0)
    with pytest.raises(ValueError, match="teacher_weights"):
        LogitsGraphLoss(teacher_weights="learned")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="criterion"):
        LogitsGraphLoss(criterion="l2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="teachers must be"):
        LogitsGraphLoss()(torch.zeros(2, 3), torch.zeros(2, 3))
