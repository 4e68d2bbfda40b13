"""CLSCosineLoss against hand-computed values; the teacher gets no gradient."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses import CLSCosineLoss


def test_known_values_average_over_batch() -> None:
    student = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    teacher = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    expected = (1.0 + (1 - 1 / math.sqrt(2))) / 2
    assert CLSCosineLoss()(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_gradient_reaches_the_student_only() -> None:
    student = torch.randn(3, 4, requires_grad=True)
    teacher = torch.randn(3, 4, requires_grad=True)
    CLSCosineLoss()(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_rejects_width_mismatch() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        CLSCosineLoss()(torch.zeros(1, 2), torch.zeros(1, 3))
