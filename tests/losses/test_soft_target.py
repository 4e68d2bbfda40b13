"""SoftTargetKL against hand-computed values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_kd.losses import SoftTargetKL


def _kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def test_known_value_tau_1() -> None:
    # teacher softmax([ln 3, 0]) = [0.75, 0.25]; student softmax([0, 0]) = [0.5, 0.5]
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert SoftTargetKL(tau=1.0)(student, teacher).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.1308120, rel=1e-6)


def test_known_value_tau_2_includes_tau_squared() -> None:
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    p_teacher = [math.sqrt(3) / (math.sqrt(3) + 1), 1 / (math.sqrt(3) + 1)]
    expected = 4.0 * _kl(p_teacher, [0.5, 0.5])
    assert SoftTargetKL(tau=2.0)(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_batchmean_averages_over_samples() -> None:
    student = torch.zeros(2, 2)
    teacher = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    expected = (0.75 * math.log(1.5) + 0.25 * math.log(0.5)) / 2
    assert SoftTargetKL(tau=1.0)(student, teacher).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_zero_when_student_matches_teacher(batch: int) -> None:
    logits = torch.randn(batch, 10)
    assert SoftTargetKL()(logits, logits).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_gradient_is_tau_times_probability_gap(tau: float) -> None:
    # d/dz_s [tau^2 KL(p_t || p_s)] = tau * (p_s - p_t) / B
    torch.manual_seed(0)
    student = torch.randn(3, 5, requires_grad=True)
    teacher = torch.randn(3, 5)
    SoftTargetKL(tau)(student, teacher).backward()
    expected = tau * (F.softmax(student.detach() / tau, 1) - F.softmax(teacher / tau, 1)) / 3
    torch.testing.assert_close(student.grad, expected, rtol=1e-5, atol=1e-6)


def test_no_gradient_reaches_teacher_target_when_detached() -> None:
    student = torch.randn(2, 3, requires_grad=True)
    teacher = torch.randn(2, 3, requires_grad=True)
    SoftTargetKL()(student, teacher.detach()).backward()
    assert teacher.grad is None


def test_loss_decreases_under_gradient_descent() -> None:
    torch.manual_seed(0)
    student = torch.randn(4, 6, requires_grad=True)
    teacher = torch.randn(4, 6)
    loss_fn = SoftTargetKL(tau=2.0)
    first = loss_fn(student, teacher).item()
    optimizer = torch.optim.SGD([student], lr=1.0)
    for _ in range(20):
        optimizer.zero_grad()
        loss_fn(student, teacher).backward()
        optimizer.step()
    assert loss_fn(student, teacher).item() < 0.5 * first


def test_rejects_non_positive_tau() -> None:
    with pytest.raises(ValueError, match="tau"):
        SoftTargetKL(tau=0.0)
