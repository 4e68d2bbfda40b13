"""ReKD's relation losses: multi-positive contrast and relation KL."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_kd.losses import InfoNCE, MultiPositiveContrast, RelationKL

E1, E2 = [1.0, 0.0], [0.0, 1.0]


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.tensor([E1]), torch.tensor([E1]), torch.tensor([E1, E2])  # logits [1, 1, 0] at T = 1


def test_multi_positive_known_values() -> None:
    query, key, queue = _inputs()
    log_z = math.log(2 * math.e + 1)
    loss = MultiPositiveContrast(1.0)
    own_and_first = loss(query, key, queue, torch.tensor([[True, True, False]]))
    own_and_last = loss(query, key, queue, torch.tensor([[True, False, True]]))
    assert own_and_first.item() == pytest.approx(log_z - 1, rel=1e-6)
    assert own_and_last.item() == pytest.approx(log_z - 0.5, rel=1e-6)


def test_multi_positive_with_only_own_key_is_info_nce() -> None:
    torch.manual_seed(0)
    query, key = (F.normalize(torch.randn(5, 8), dim=1) for _ in range(2))
    queue = F.normalize(torch.randn(7, 8), dim=1)
    only_own = torch.zeros(5, 8, dtype=torch.bool)
    expected = InfoNCE(0.2)(query, key, queue)
    assert MultiPositiveContrast(0.2)(query, key, queue, only_own).item() == pytest.approx(expected.item(), rel=1e-6)


def test_multi_positive_own_key_is_always_positive() -> None:
    query, key, queue = _inputs()
    loss = MultiPositiveContrast(1.0)
    with_flag = loss(query, key, queue, torch.tensor([[True, True, False]]))
    without_flag = loss(query, key, queue, torch.tensor([[False, True, False]]))
    assert with_flag.item() == pytest.approx(without_flag.item())


def test_relation_kl_zero_when_relations_equal_and_positive_otherwise() -> None:
    torch.manual_seed(0)
    student = F.normalize(torch.randn(4, 8), dim=1)
    bank = F.normalize(torch.randn(10, 8), dim=1)
    kl = RelationKL(0.1, 0.1)
    assert kl(student, bank, student, bank).item() == pytest.approx(0.0, abs=1e-6)
    other = F.normalize(torch.randn(4, 8), dim=1)
    assert kl(student, bank, other, bank).item() > 0.01


def test_relation_kl_known_value_and_direction() -> None:
    # teacher relations softmax([ln 3, 0]) = [.75, .25]; student relations uniform: KL(teacher || student)
    teacher, teacher_bank = torch.tensor([[math.log(3.0), 0.0]]), torch.tensor([E1, E2])
    student, student_bank = torch.tensor([[1.0, 1.0]]), torch.tensor([E1, E2])
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert RelationKL(1.0, 1.0)(student, student_bank, teacher, teacher_bank).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_relation_kl_gradient_reaches_student_only() -> None:
    student = F.normalize(torch.randn(3, 4), dim=1).requires_grad_()
    teacher = F.normalize(torch.randn(3, 4), dim=1).requires_grad_()
    bank = F.normalize(torch.randn(6, 4), dim=1)
    RelationKL()(student, bank, teacher.detach(), bank).backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None
