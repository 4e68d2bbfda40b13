"""CPF's distillation loss against hand-computed values and gradients (docs/methods/cpf.md)."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses.cpf import CPFDistillationLoss

# softmax(scores) = [[.5, .5], [.75, .25]]; minus the teacher: [[-.5, .5], [.5, -.5]]
SCORES = [[0.0, 0.0], [math.log(3.0), 0.0]]
TEACHER = torch.tensor([[1.0, 0.0], [0.25, 0.75]])


def _loss_and_grad(distance: str) -> tuple[float, torch.Tensor]:
    scores = torch.tensor(SCORES, requires_grad=True)
    loss = CPFDistillationLoss(distance)(scores, TEACHER)
    loss.backward()
    return loss.item(), scores.grad


def test_global_l2_is_one_norm_over_every_node_and_class() -> None:
    value, grad = _loss_and_grad("global_l2")
    assert value == pytest.approx(1.0)  # sqrt(4 * 0.25)
    # dL/ds_i = q_i (g_i - sum_j q_j g_j), g = difference / norm
    assert torch.allclose(grad, torch.tensor([[-0.25, 0.25], [0.1875, -0.1875]]), atol=1e-6)


def test_per_node_l2_sums_one_norm_per_node() -> None:
    value, grad = _loss_and_grad("per_node_l2")
    assert value == pytest.approx(2 * math.sqrt(0.5))
    r = 1 / math.sqrt(2)
    expected = [[-0.5 * r, 0.5 * r], [0.75 * (r - 0.5 * r), 0.25 * (-r - 0.5 * r)]]
    assert torch.allclose(grad, torch.tensor(expected), atol=1e-6)


def test_matching_the_teacher_costs_nothing_and_has_finite_gradients() -> None:
    scores = torch.log(TEACHER.clamp_min(1e-12)).requires_grad_(True)
    loss = CPFDistillationLoss("per_node_l2")(scores, torch.softmax(scores.detach(), dim=1))
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6) and torch.isfinite(scores.grad).all()


def test_an_unknown_distance_is_refused() -> None:
    with pytest.raises(ValueError, match="global_l2 or per_node_l2"):
        CPFDistillationLoss("kl")
