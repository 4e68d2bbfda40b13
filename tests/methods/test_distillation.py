"""The distillation conventions: a frozen teacher through DistillationMethod, cross-entropy from label_loss."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import torch
from kd_helpers import TINY_CNN, build_method

import ssl_kd.methods
from ssl_kd.methods.distillation import DistillationMethod
from ssl_kd.models import build_model


def test_teacher_is_frozen_out_of_checkpoints_and_runs_as_a_constant_target() -> None:
    teacher = build_model(TINY_CNN["arch"], 10, **TINY_CNN["options"])
    raw = {
        "method": "hint",
        "student": TINY_CNN,
        "teacher": {"from": "t"},
        "pairs": [{"student": "conv2", "teacher": "conv2"}],
    }
    method = build_method(raw, teacher)
    assert isinstance(method, DistillationMethod)
    method.train()
    assert not method.teacher.training and not any(p.requires_grad for p in method.teacher.parameters())
    assert not any(key.startswith("teacher.") for key in method.trainable_state_dict())
    images = torch.randn(2, 3, 32, 32)
    logits = method.teacher_forward(images)
    taps = method.teacher_forward(images, ["features", "logits"], via="forward_taps")
    assert not logits.is_inference() and not taps["features"].is_inference() and not logits.requires_grad
    torch.testing.assert_close(taps["logits"], logits)
    torch.testing.assert_close(logits, method.teacher(images).detach())


def test_every_method_takes_its_cross_entropy_from_label_loss() -> None:
    for info in pkgutil.iter_modules(ssl_kd.methods.__path__):
        source = inspect.getsource(importlib.import_module(f"ssl_kd.methods.{info.name}"))
        assert "cross_entropy(" not in source, f"ssl_kd.methods.{info.name}: use label_loss(cfg)"
