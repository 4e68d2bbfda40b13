"""DR-KD rectification on a hand-made batch, RectifiedKDLoss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses import RectifiedKDLoss
from ssl_kd.losses.rectified_kd import rectify_logits


def _kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def test_rectify_swaps_wrong_rows_only() -> None:
    teacher = torch.tensor([[1.0, 5.0, 2.0], [4.0, 1.0, 0.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 0, 1])
    rectified = rectify_logits(teacher, labels)
    expected = torch.tensor([[5.0, 1.0, 2.0], [4.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    assert torch.equal(rectified, expected)
    assert torch.equal(rectified.argmax(dim=1), labels)


def test_rectify_does_not_modify_its_input() -> None:
    teacher = torch.tensor([[1.0, 5.0]])
    rectify_logits(teacher, torch.tensor([0]))
    assert torch.equal(teacher, torch.tensor([[1.0, 5.0]]))


def _case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # student -> [1/4, 1/2, 1/4]; teacher -> [1/3, 1/2, 1/6] predicts class 1, the label is 0
    student = torch.log(torch.tensor([[1.0, 2.0, 1.0]])).requires_grad_(True)
    teacher = torch.log(torch.tensor([[2.0, 3.0, 1.0]])).requires_grad_(True)
    return student, teacher, torch.tensor([0])


@pytest.mark.parametrize(("rectify", "target"), [("swap", [1 / 2, 1 / 3, 1 / 6]), ("none", [1 / 3, 1 / 2, 1 / 6])])
def test_known_values(rectify: str, target: list[float]) -> None:
    student, teacher, labels = _case()
    terms = RectifiedKDLoss(alpha=0.25, tau=1.0, rectify=rectify)(student, teacher, labels)
    assert terms["ce"].item() == pytest.approx(0.75 * math.log(4.0), rel=1e-6)
    assert terms["kd"].item() == pytest.approx(0.25 * _kl(target, [0.25, 0.5, 0.25]), rel=1e-6)


def test_additive_weighting_keeps_the_full_ce() -> None:
    student, teacher, labels = _case()
    terms = RectifiedKDLoss(alpha=0.25, tau=1.0, weighting="additive")(student, teacher, labels)
    assert terms["ce"].item() == pytest.approx(math.log(4.0), rel=1e-6)
    assert terms["kd"].item() == pytest.approx(0.25 * _kl([1 / 2, 1 / 3, 1 / 6], [0.25, 0.5, 0.25]), rel=1e-6)


def test_gradient_reaches_the_student_only() -> None:
    student, teacher, labels = _case()
    terms = RectifiedKDLoss()(student, teacher, labels)
    (terms["ce"] + terms["kd"]).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alpha"):
        RectifiedKDLoss(alpha=1.5)
    with pytest.raises(ValueError, match="rectify"):
        RectifiedKDLoss(rectify="flip")
    with pytest.raises(ValueError, match="weighting"):
        RectifiedKDLoss(weighting="sum")
