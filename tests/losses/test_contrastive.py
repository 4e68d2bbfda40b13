"""InfoNCE, NT-Xent and SEED's similarity distillation against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_kd.losses import InfoNCE, NTXent, SimilarityDistillation

E1, E2 = [1.0, 0.0], [0.0, 1.0]


@pytest.mark.parametrize(
    ("temperature", "expected"), [(1.0, math.log(1 + math.exp(-1))), (0.5, math.log(1 + math.exp(-2)))]
)
def test_info_nce_known_value(temperature: float, expected: float) -> None:
    # logits = [q.k, q.n] / T = [1, 0] / T; loss = -log softmax(...)_0
    loss = InfoNCE(temperature)(torch.tensor([E1]), torch.tensor([E1]), torch.tensor([E2]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_gradient_only_through_query_when_key_detached() -> None:
    query = F.normalize(torch.randn(4, 8), dim=1).requires_grad_()
    key = F.normalize(torch.randn(4, 8), dim=1).requires_grad_()
    InfoNCE(0.2)(query, key.detach(), F.normalize(torch.randn(16, 8), dim=1)).backward()
    assert query.grad is not None and query.grad.abs().sum() > 0 and key.grad is None


def test_info_nce_rejects_tiny_temperature() -> None:
    with pytest.raises(ValueError, match="temperature"):
        InfoNCE(0.0)


def test_nt_xent_known_value() -> None:
    # two images, identical views: every row has one positive (sim 1) and two negatives (sim 0)
    z = torch.tensor([E1, E2])
    for temperature in (1.0, 0.5):
        expected = math.log(1 + 2 * math.exp(-1 / temperature))
        assert NTXent(temperature)(z, z).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_masks_self_similarity() -> None:
    # with one image the only non-self entry is the positive: the loss is exactly zero
    assert NTXent(0.2)(torch.tensor([E1]), torch.tensor([E2])).item() == pytest.approx(0.0, abs=1e-7)


def test_nt_xent_loss_decreases_when_views_align() -> None:
    torch.manual_seed(0)
    z1 = torch.randn(8, 16, requires_grad=True)
    z2 = torch.randn(8, 16)
    loss_fn = NTXent(0.5)
    first = loss_fn(F.normalize(z1, dim=1), F.normalize(z2, dim=1)).item()
    optimizer = torch.optim.SGD([z1], lr=0.5)
    for _ in range(20):
        optimizer.zero_grad()
        loss_fn(F.normalize(z1, dim=1), F.normalize(z2, dim=1)).backward()
        optimizer.step()
    assert loss_fn(F.normalize(z1, dim=1), F.normalize(z2, dim=1)).item() < first


def test_similarity_distillation_known_value() -> None:
    teacher = torch.tensor([E1])
    queue = torch.tensor([E2])
    student = torch.tensor([[math.cos(0.5), math.sin(0.5)]])
    # teacher logits [1, 0] / 1e-4 -> target ~ [1, 0]; student logits [cos .5, sin .5] / 0.2
    student_logits = [math.cos(0.5) / 0.2, math.sin(0.5) / 0.2]
    expected = -(student_logits[0] - math.log(sum(math.exp(v) for v in student_logits)))
    loss = SimilarityDistillation(0.2, 1e-4)(student, teacher, queue)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_similarity_distillation_soft_teacher_and_gradient() -> None:
    teacher = torch.tensor([E1])
    queue = torch.tensor([E2, E1])
    student = torch.tensor([E1], requires_grad=True)
    loss = SimilarityDistillation(1.0, 1.0)(student, teacher, queue)
    target = torch.softmax(torch.tensor([1.0, 0.0, 1.0]), 0)
    log_p = torch.log_softmax(torch.tensor([1.0, 0.0, 1.0]), 0)
    assert loss.item() == pytest.approx(-(target * log_p).sum().item(), rel=1e-6)
    loss.backward()
    # student equals teacher: the soft cross-entropy is at its minimum, so the gradient vanishes
    assert student.grad.abs().max().item() < 1e-6
