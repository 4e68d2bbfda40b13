"""LabelledCrossEntropy: the mean over labelled samples only, zero (not NaN) without labels."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_kd.losses import LabelledCrossEntropy
from ssl_kd.losses.labelled_ce import UNLABELLED


def test_hand_computed_mean_over_labelled_samples() -> None:
    logits = torch.tensor([[math.log(3.0), 0.0], [5.0, -5.0], [0.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, UNLABELLED, 1])
    # CE(sample 0) = -ln 0.75, CE(sample 2) = ln 2; sample 1 is unlabelled and left out
    value = LabelledCrossEntropy()(logits, labels)
    assert value.item() == pytest.approx((-math.log(0.75) + math.log(2.0)) / 2, rel=1e-6)
    value.backward()
    assert logits.grad is not None
    assert logits.grad[1].abs().sum().item() == 0.0  # no gradient from an unlabelled sample
    assert logits.grad[0].tolist() == pytest.approx([(0.75 - 1) / 2, 0.25 / 2], abs=1e-6)


def test_equals_plain_cross_entropy_when_everything_is_labelled() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.randint(0, 4, (6,))
    expected = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert LabelledCrossEntropy(0.1)(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)


def test_batch_without_labels_is_zero_with_zero_gradient() -> None:
    logits = torch.randn(3, 4, requires_grad=True)
    labels = torch.full((3,), UNLABELLED)
    assert torch.isnan(F.cross_entropy(logits, labels)).item()  # what this loss exists to avoid
    value = LabelledCrossEntropy()(logits, labels)
    value.backward()
    assert value.item() == 0.0
    assert logits.grad is not None and logits.grad.abs().sum().item() == 0.0
