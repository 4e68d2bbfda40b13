"""Topology distillation losses (FTD, HTD entity / group levels, group assignment), Gumbel-softmax and its
temperature schedule, against values and gradients worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses.topology import (
    FullTopologyLoss,
    GroupAssignmentLoss,
    HierarchicalTopologyLoss,
    annealed_temperature,
    cosine_matrix,
    gumbel_noise,
    gumbel_softmax,
)

R2 = math.sqrt(2)


def test_cosine_matrix_of_a_zero_row_is_zero() -> None:
    cos = cosine_matrix(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.tensor([[3.0, 4.0]]))
    assert torch.allclose(cos, torch.tensor([[0.0], [1.0]]))


def test_ftd_value_and_gradient_by_hand() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    loss = FullTopologyLoss()(student, teacher)
    assert loss.item() == pytest.approx(1.0)  # both ordered off-diagonal pairs: (1/√2 − 0)²; diagonals match
    loss.backward()
    # dL/ds_a = −4 (cos t_ab − cos s_ab) (ŝ_b − cos s_ab ŝ_a) / ‖s_a‖ for the other node b
    assert torch.allclose(student.grad, torch.tensor([[0.0, -2 * R2], [-2 * R2, 0.0]]), atol=1e-6)


def three_nodes(second_teacher: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 0.0], second_teacher, [0.0, 1.0]])
    return student, teacher, torch.tensor([0, 0, 1])


def test_entity_level_only_within_groups_with_hand_gradient() -> None:
    student, teacher, groups = three_nodes([1.0, 1.0])
    terms = HierarchicalTopologyLoss()(student, teacher, groups, num_groups=3)
    assert terms.entity.item() == pytest.approx(1.0)  # pair (0, 1) both ways: (0 − 1/√2)²; node 2 alone
    terms.entity.backward()
    assert torch.allclose(student.grad, torch.tensor([[0.0, -2 * R2], [-2 * R2, 0.0], [0.0, 0.0]]), atol=1e-6)


@pytest.mark.parametrize(("positive_only", "expected"), [(True, 0.0), (False, 1.0)])
def test_positive_teacher_pairs_only_drops_negative_teacher_similarities(positive_only: bool, expected: float) -> None:
    student, teacher, groups = three_nodes([-1.0, 1.0])  # cos t_01 = −1/√2
    terms = HierarchicalTopologyLoss(positive_teacher_pairs_only=positive_only)(student, teacher, groups, 3)
    assert terms.entity.item() == pytest.approx(expected, abs=1e-6)


def test_group_level_prototype_entity_by_hand() -> None:
    student, teacher, groups = three_nodes([1.0, 1.0])
    terms = HierarchicalTopologyLoss(group_level="p_e")(student, teacher, groups, num_groups=3)  # group 2 empty
    # prototypes: P_s = ([.5, .5], [1, 0]), P_t = ([1, .5], [0, 1])
    s_rows = [[1 / R2, 1 / R2, 1 / R2], [1.0, 0.0, 1.0]]
    n = math.sqrt(1.25)
    t_rows = [[1 / n, 1.5 / (n * R2), 0.5 / n], [0.0, 1 / R2, 1.0]]
    expected = sum(
        (s - t) ** 2 for srow, trow in zip(s_rows, t_rows, strict=True) for s, t in zip(srow, trow, strict=True)
    )
    assert terms.group.item() == pytest.approx(expected, rel=1e-5)


def test_group_level_prototype_prototype_by_hand() -> None:
    student, teacher, groups = three_nodes([1.0, 1.0])
    terms = HierarchicalTopologyLoss(group_level="p_p")(student, teacher, groups, num_groups=3)
    # cos(P_s0, P_s1) = 1/√2, cos(P_t0, P_t1) = 0.5 / √1.25, both ordered pairs; the empty group adds nothing
    assert terms.group.item() == pytest.approx(2 * (1 / R2 - 0.5 / math.sqrt(1.25)) ** 2, rel=1e-5)


def test_prototypes_carry_no_gradient() -> None:
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    terms = HierarchicalTopologyLoss()(student, teacher, torch.tensor([0, 0]), num_groups=1)
    difference = 1 / R2 - 1  # cos(P_s, s_e) − cos(P_t, t_e) for both nodes
    assert terms.group.item() == pytest.approx(2 * difference**2)
    terms.group.backward()
    # with P fixed: dL/ds_e = 2 · difference · (P̂ − cos · ŝ_e) / ‖s_e‖
    expected = 2 * difference * torch.tensor([[0.0, 1 / R2], [1 / R2, 0.0]])
    assert torch.allclose(student.grad, expected, atol=1e-6)


def test_unknown_group_level_is_refused() -> None:
    with pytest.raises(ValueError, match="p_e"):
        HierarchicalTopologyLoss(group_level="e_e")  # type: ignore[arg-type]


def test_group_assignment_value_and_gradient() -> None:
    reconstruction = torch.zeros(1, 2, requires_grad=True)
    loss = GroupAssignmentLoss()(torch.tensor([[1.0, 2.0]]), reconstruction)
    assert loss.item() == pytest.approx(5.0)
    loss.backward()
    assert torch.allclose(reconstruction.grad, torch.tensor([[-2.0, -4.0]]))


@pytest.mark.parametrize(("temperature", "expected"), [(1.0, [0.25, 0.75]), (0.5, [0.1, 0.9])])
def test_gumbel_softmax_by_hand(temperature: float, expected: list[float]) -> None:
    z = gumbel_softmax(torch.tensor([[0.5, 0.5]]), temperature, torch.tensor([[0.0, math.log(3)]]))
    assert torch.allclose(z, torch.tensor([expected]), atol=1e-6)


def test_gumbel_softmax_becomes_one_hot_as_the_temperature_falls() -> None:
    z = gumbel_softmax(torch.tensor([[0.2, 0.3, 0.5]]), 1e-10, torch.zeros(1, 3))
    assert torch.equal(z, torch.tensor([[0.0, 0.0, 1.0]]))


@pytest.mark.parametrize(("epoch", "expected"), [(0, 1.0), (5, 1e-5), (10, 1e-10), (20, 1e-10)])
def test_temperature_anneals_from_one_to_the_floor(epoch: int, expected: float) -> None:
    assert annealed_temperature(epoch, 10) == pytest.approx(expected, rel=1e-9)


def test_gumbel_noise_has_the_gumbel_mean() -> None:
    torch.manual_seed(0)
    noise = gumbel_noise(torch.zeros(200_000))
    assert torch.isfinite(noise).all() and noise.mean().item() == pytest.approx(0.5772, abs=0.01)
