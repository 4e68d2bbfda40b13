"""SOKD: knowledge bridge construction, the official quirks' switches, stop-gradients and a tiny pipeline run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from kd_helpers import TINY_CNN, batch, build_method, fit_fixed_batch, run_tiny

from ssl_kd.errors import ConfigError
from ssl_kd.models import build_model

SOKD = {"method": "sokd", "student": TINY_CNN, "teacher": {"from": "teacher"}}


def _teacher() -> torch.nn.Module:
    torch.manual_seed(3)
    return build_model(TINY_CNN["arch"], 10, **TINY_CNN["options"]).eval()


def test_default_branch_is_the_second_to_last_block_and_loss_decreases() -> None:
    method = build_method(SOKD, _teacher())
    assert method.branch == "conv4"
    assert len(method.kbm.blocks) == 1  # a copy of conv5, then pool and classifier
    losses = fit_fixed_batch(method)
    assert losses[-1] < losses[0]


def test_kbm_init_teacher_copies_the_top_and_random_reinitialises_it() -> None:
    teacher = _teacher()
    images, _ = batch()
    copied = build_method({**SOKD, "kbm_init": "teacher"}, teacher).eval()
    fresh = build_method(SOKD, teacher).eval()
    with torch.no_grad():
        taps = copied.teacher.forward_taps(images, ["conv4", "logits"])
        assert torch.allclose(copied.kbm(taps["conv4"]), taps["logits"], atol=1e-5)
        assert not torch.allclose(fresh.kbm(taps["conv4"]), taps["logits"], atol=1e-2)


@pytest.mark.parametrize("teacher_bn", ["train", "eval"])
def test_teacher_is_frozen_and_never_checkpointed(teacher_bn: str) -> None:
    method = build_method({**SOKD, "teacher_bn": teacher_bn}, _teacher())
    method.train()
    running_mean = method.teacher.blocks["conv1"][1].running_mean.clone()
    sum(method.training_step(*batch()).values()).backward()
    assert all(p.grad is None for p in method.teacher.parameters())
    assert any(p.grad is not None for p in method.kbm.parameters())
    assert any(p.grad is not None for p in method.student.parameters())
    assert not method.teacher.training
    drifted = not torch.equal(running_mean, method.teacher.blocks["conv1"][1].running_mean)
    assert drifted == (teacher_bn == "train")  # official quirk 2: BN statistics drift in train mode
    keys = method.trainable_state_dict()
    assert any(k.startswith("kbm.") for k in keys) and not any(k.startswith("teacher.") for k in keys)


def test_unknown_branch_lists_the_blocks() -> None:
    with pytest.raises(ConfigError, match="blocks: conv1, conv2"):
        build_method({**SOKD, "kbm_branch": "conv9"}, _teacher())


def test_runs_in_a_tiny_pipeline(tmp_path: Path) -> None:
    results = run_tiny(
        tmp_path,
        [
            {"name": "teacher", "method": "supervised", "model": TINY_CNN},
            {"name": "sokd", **SOKD, "epochs": 1},
        ],
    )
    assert 0.0 <= results["sokd"]["test_top1"] <= 1.0
