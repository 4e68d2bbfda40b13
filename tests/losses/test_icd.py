"""ICD's losses against hand-computed values and gradients, and against the paper's code's formulation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_kd.losses.icd import (
    AttentionMaskedMimicLoss,
    InstanceIdentificationLoss,
    InstanceLocalisationLoss,
    instance_attention_mask,
)


def test_the_mask_is_built_only_from_real_instances() -> None:
    logits = torch.tensor([[[[0.0, math.log(3.0)], [5.0, -5.0], [1.0, 2.0]]]])  # (B=1, h=1, K=3, S=2)
    real = torch.tensor([[True, False, False]])
    mask = instance_attention_mask(logits, real)
    assert torch.allclose(mask, torch.tensor([[[0.25, 0.75]]]))
    changed = logits.clone()
    changed[0, 0, 1:] = torch.tensor([[-9.0, 9.0], [3.0, 0.0]])  # the fake queries look elsewhere: M does not move
    assert torch.equal(instance_attention_mask(changed, real), mask)
    both = instance_attention_mask(logits, torch.tensor([[True, True, False]]))
    assert torch.allclose(both[0, 0], torch.tensor([0.25, 0.75]) + F.softmax(torch.tensor([5.0, -5.0]), 0))
    assert instance_attention_mask(logits, torch.zeros(1, 3, dtype=torch.bool)).abs().sum() == 0


def test_the_temperature_sharpens_the_mask() -> None:
    logits = torch.tensor([[[[0.0, math.log(3.0)]]]])
    mask = instance_attention_mask(logits, torch.tensor([[True]]), temperature=0.5)
    assert torch.allclose(mask[0, 0], torch.tensor([0.1, 0.9]))  # softmax(2 * logits) = (1, 9) / 10


def test_mimic_loss_known_value() -> None:
    # one head of 2 channels: LN([1, 3]) = (-1, 1) r and LN([3, 1]) = (1, -1) r with r = 1 / sqrt(1 + 1e-5)
    student = torch.tensor([[[[1.0, 3.0]], [[0.0, 2.0]]]], requires_grad=True)  # (B=1, S=2, h=1, c=2)
    teacher = torch.tensor([[[[3.0, 1.0]], [[0.0, 4.0]]]], requires_grad=True)
    logits = torch.tensor([[[[0.0, math.log(3.0)], [9.0, -9.0]]]], requires_grad=True)  # real, fake
    real = torch.tensor([[True, False]])
    loss = AttentionMaskedMimicLoss(weight=8.0)(student, teacher, logits, real)
    # position 0: error mean_c (2r)^2 = 4 r^2, mask 0.25; position 1: no error, mask 0.75; Σ M = 1
    assert loss.item() == pytest.approx(8.0 * 0.25 * 4 / (1 + 1e-5), rel=1e-6)
    loss.backward()
    assert student.grad is not None and teacher.grad is None and logits.grad is None


@pytest.mark.parametrize("norm", ["tln", "none"])
def test_mimic_loss_known_value_without_the_student_norm(norm: str) -> None:
    # the values of test_mimic_loss_known_value; the student side raw, the teacher side LN'd (tln) or raw (none)
    student = torch.tensor([[[[1.0, 3.0]], [[0.0, 2.0]]]], requires_grad=True)
    teacher = torch.tensor([[[[3.0, 1.0]], [[0.0, 4.0]]]])
    logits = torch.tensor([[[[0.0, math.log(3.0)], [9.0, -9.0]]]])
    loss = AttentionMaskedMimicLoss(weight=8.0, norm=norm)(student, teacher, logits, torch.tensor([[True, False]]))
    r = 1 / math.sqrt(1 + 1e-5)
    target = torch.tensor([[r, -r], [-r, r]]) if norm == "tln" else torch.tensor([[3.0, 1.0], [0.0, 4.0]])
    error = (student.detach()[0, :, 0] - target).pow(2).mean(-1)  # per position, over the 2 channels
    assert loss.item() == pytest.approx(8.0 * (0.25 * error[0] + 0.75 * error[1]).item(), rel=1e-6)
    if norm == "none":
        assert loss.item() == pytest.approx(8.0 * (0.25 * 4 + 0.75 * 2))
    loss.backward()
    # d/ds of 8 · M_j / ΣM · mean_c (s − t)²  =  8 · M_j · (s − t)  (2 channels, ΣM = 1)
    expected = 8.0 * torch.tensor([[0.25], [0.75]]) * (student.detach()[0, :, 0] - target)
    assert torch.allclose(student.grad[0, :, 0], expected, atol=1e-5)


def test_mimic_loss_rejects_an_unknown_norm() -> None:
    with pytest.raises(ValueError, match="norm must be one of"):
        AttentionMaskedMimicLoss(norm="batch")  # type: ignore[arg-type]


def official_mimic(
    student: torch.Tensor, teacher: torch.Tensor, logits: torch.Tensor, real: torch.Tensor
) -> torch.Tensor:
    """megvii-research/ICD distiller.py, mse form: values (S, B, h, c), mask (B, h, 1, S)."""
    norm = torch.nn.LayerNorm([student.shape[-1]], elementwise_affine=False)
    svalue, tvalue = norm(student.permute(1, 0, 2, 3)), norm(teacher.permute(1, 0, 2, 3)).detach()
    with torch.no_grad():
        value_mask = (logits.softmax(-1) * real.float().unsqueeze(1).unsqueeze(-1)).sum(2, keepdim=True)
    error = F.mse_loss(svalue, tvalue, reduction="none").permute(1, 2, 3, 0)
    return 8.0 * ((error * value_mask).sum(-1) / value_mask.sum(-1).clamp(min=1e-6)).mean()


def test_mimic_loss_matches_the_papers_code_in_value_and_gradient() -> None:
    torch.manual_seed(0)
    student = torch.randn(3, 7, 4, 5, requires_grad=True)
    teacher, logits = torch.randn(3, 7, 4, 5), torch.randn(3, 4, 6, 7)
    real = torch.tensor([[True, True, False, False, False, False], [True] + [False] * 5, [False] * 6])
    ours = AttentionMaskedMimicLoss(weight=8.0)(student, teacher, logits, real)
    (grad_ours,) = torch.autograd.grad(ours, student)
    reference = official_mimic(student, teacher, logits, real)
    (grad_reference,) = torch.autograd.grad(reference, student)
    assert ours.item() == pytest.approx(reference.item(), rel=1e-5)
    assert torch.allclose(grad_ours, grad_reference, atol=1e-6)
    assert grad_ours[2].abs().sum() == 0  # an image without real instances teaches nothing


def test_mimic_loss_rejects_mismatched_values() -> None:
    with pytest.raises(ValueError, match="value shapes differ"):
        AttentionMaskedMimicLoss()(torch.zeros(1, 2, 1, 4), torch.zeros(1, 2, 1, 2), torch.zeros(1, 1, 1, 2),
                                   torch.ones(1, 1, dtype=torch.bool))  # fmt: skip


def test_identification_known_value_and_gradient() -> None:
    confidence = torch.tensor([[0.0, math.log(3.0), 50.0]], requires_grad=True)
    real = torch.tensor([[True, False, False]])
    valid = torch.tensor([[True, True, False]])  # the third query is padding
    loss = InstanceIdentificationLoss()(confidence, real, valid)
    assert loss.item() == pytest.approx((math.log(2) + math.log(4)) / 2)
    loss.backward()
    assert torch.allclose(confidence.grad, torch.tensor([[(0.5 - 1) / 2, 0.75 / 2, 0.0]]))


def test_localisation_known_value_and_gradient() -> None:
    target = torch.tensor([[[0.1, 0.2, 0.3, 0.2], [0.1, 0.1, 0.1, 0.1]]])  # box 0.4 x 0.4; the second is fake
    predicted = torch.tensor([[[0.2, 0.2, 0.3, 0.0], [0.9, 0.9, 0.9, 0.9]]], requires_grad=True)
    real = torch.tensor([[True, False]])
    loss = InstanceLocalisationLoss()(predicted, target, real)
    assert loss.item() == pytest.approx(0.1 / 0.4 + 0.2 / 0.4)
    loss.backward()
    assert torch.allclose(predicted.grad, torch.tensor([[[2.5, 0.0, 0.0, -2.5], [0.0, 0.0, 0.0, 0.0]]]))
