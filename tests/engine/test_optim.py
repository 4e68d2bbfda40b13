"""Learning-rate schedules and optimiser parameter groups."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from ssl_kd.config.schema import OptimConfig
from ssl_kd.engine.optim import build_optimizer, lr_factor


def test_warmup_then_cosine_to_floor() -> None:
    cfg = OptimConfig(schedule="cosine", warmup_epochs=1, min_lr_ratio=0.1)
    factors = [lr_factor(step, total_steps=30, steps_per_epoch=10, cfg=cfg) for step in range(30)]
    assert factors[0] == pytest.approx(0.1)
    assert factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))


def test_step_schedule_decays_at_milestones() -> None:
    cfg = OptimConfig(schedule="step", milestones=[2, 4], gamma=0.5)
    assert lr_factor(19, 60, 10, cfg) == 1.0
    assert lr_factor(20, 60, 10, cfg) == 0.5
    assert lr_factor(45, 60, 10, cfg) == 0.25


def test_constant_schedule() -> None:
    assert lr_factor(17, 20, 10, OptimConfig(schedule="constant")) == 1.0


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_no_weight_decay_on_biases_and_norms(name: str) -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    optimizer = build_optimizer(model.named_parameters(), OptimConfig(name=name, weight_decay=0.1))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert [p.shape for p in decayed["params"]] == [torch.Size([3, 4])]
    assert len(plain["params"]) == 3


@pytest.mark.parametrize(("name", "expected"), [("adam", 1.0 - 0.1), ("adamw", 1.0 - 0.1 * 0.5)])
def test_adam_adds_weight_decay_to_the_gradient_and_adamw_decouples_it(name: str, expected: float) -> None:
    """One step from θ = 1 with a zero loss gradient, lr 0.1, wd 0.5. Adam: g = 0 + 0.5 θ, and its first step is
    lr · g / |g| = 0.1. AdamW: the Adam step of g = 0 is 0, then θ ← θ − lr · wd · θ = θ − 0.05."""
    weight = nn.Parameter(torch.ones(1, 1))
    optimizer = build_optimizer([("weight", weight)], OptimConfig(name=name, lr=0.1, weight_decay=0.5))
    weight.grad = torch.zeros(1, 1)
    optimizer.step()
    assert weight.item() == pytest.approx(expected, abs=1e-6)
