"""SemiOnlineKDLoss against hand-computed values, and its stop-gradients (official SOKD code)."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses import SemiOnlineKDLoss


def _kl(p: list[float], q: list[float]) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def _logits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # student -> [0.75, 0.25], kbm -> [0.5, 0.5], teacher -> [0.25, 0.75]
    student = torch.tensor([[math.log(3.0), 0.0]], requires_grad=True)
    kbm = torch.zeros(1, 2, requires_grad=True)
    teacher = torch.tensor([[0.0, math.log(3.0)]], requires_grad=True)
    return student, kbm, teacher


def test_known_values_tau_1() -> None:
    student, kbm, teacher = _logits()
    terms = SemiOnlineKDLoss(tau=1.0)(student, kbm, teacher, torch.tensor([0]))
    assert terms["kbm_ce"].item() == pytest.approx(math.log(2.0), rel=1e-6)
    assert terms["kbm_kd_teacher"].item() == pytest.approx(_kl([0.25, 0.75], [0.5, 0.5]), rel=1e-6)
    assert terms["kbm_kd_student"].item() == pytest.approx(_kl([0.75, 0.25], [0.5, 0.5]), rel=1e-6)
    assert terms["student_ce"].item() == pytest.approx(-math.log(0.75), rel=1e-6)
    assert terms["student_kd"].item() == pytest.approx(_kl([0.5, 0.5], [0.75, 0.25]), rel=1e-6)


def test_weights_scale_their_terms() -> None:
    student, kbm, teacher = _logits()
    plain = SemiOnlineKDLoss(tau=1.0)(student, kbm, teacher, torch.tensor([0]))
    weighted = SemiOnlineKDLoss(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)(student, kbm, teacher, torch.tensor([0]))
    for factor, name in enumerate(plain, start=2):
        assert weighted[name].item() == pytest.approx(factor * plain[name].item(), rel=1e-6)


@pytest.mark.parametrize(
    ("term", "moves"),
    [
        ("kbm_ce", {"kbm"}),
        ("kbm_kd_teacher", {"kbm"}),
        ("kbm_kd_student", {"kbm"}),
        ("student_ce", {"student"}),
        ("student_kd", {"student"}),
    ],
)
def test_each_term_moves_only_its_learner(term: str, moves: set[str]) -> None:
    student, kbm, teacher = _logits()
    SemiOnlineKDLoss(tau=4.0)(student, kbm, teacher, torch.tensor([0]))[term].backward()
    grads = {"student": student.grad, "kbm": kbm.grad, "teacher": teacher.grad}
    assert {name for name, grad in grads.items() if grad is not None and grad.abs().sum() > 0} == moves
