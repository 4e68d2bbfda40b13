"""AttentionKL on known attention distributions; the teacher gets no gradient."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses import AttentionKL


def _kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def test_known_distributions_average_over_rows_and_heads() -> None:
    teacher = torch.tensor([[[[0.5, 0.5], [0.9, 0.1]], [[0.2, 0.8], [0.5, 0.5]]]])  # (1, 2 heads, 2, 2)
    student = torch.tensor([[[[0.25, 0.75], [0.5, 0.5]], [[0.2, 0.8], [0.6, 0.4]]]])
    rows = [
        _kl([0.5, 0.5], [0.25, 0.75]),
        _kl([0.9, 0.1], [0.5, 0.5]),
        0.0,
        _kl([0.5, 0.5], [0.6, 0.4]),
    ]
    # scores = log-probabilities (softmax recovers them); a per-row shift must not matter
    value = AttentionKL()(student.log() + 3.0, teacher.log())
    assert value.item() == pytest.approx(sum(rows) / 4, rel=1e-5)


def test_zero_for_equal_maps() -> None:
    scores = torch.randn(2, 3, 5, 5)
    assert AttentionKL()(scores, scores.clone()).item() == pytest.approx(0.0, abs=1e-6)


def test_gradient_reaches_the_student_only() -> None:
    student = torch.randn(1, 2, 3, 3, requires_grad=True)
    teacher = torch.randn(1, 2, 3, 3, requires_grad=True)
    AttentionKL()(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_rejects_mismatched_heads() -> None:
    with pytest.raises(ValueError, match="heads and tokens"):
        AttentionKL()(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3))
