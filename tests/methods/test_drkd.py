"""DR-KD: recorded previous-epoch logits, snapshot / EMA / pretrained self-teachers, rectification, resume."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import torch
from kd_helpers import TINY_CNN, batch, build_method, fit_fixed_batch, run_tiny

from ssl_kd.methods.drkd import DRKDConfig

DRKD = {"method": "drkd", "student": TINY_CNN, "teacher": "snapshot"}
RECORDED = {"method": "drkd", "student": TINY_CNN, "alpha": 1.0, "tau": 1.0}


def _step(method, images: torch.Tensor, labels: torch.Tensor, ids: list[int]) -> dict[str, torch.Tensor]:
    method.sample_ids = torch.tensor(ids)
    return method.training_step(images, labels)


def test_previous_epoch_teaches_with_the_logits_recorded_for_each_sample() -> None:
    method = build_method(RECORDED)  # the documented default teacher
    assert method.cfg.teacher == "previous_epoch" and not hasattr(method, "snapshot")
    method.eval()
    images, labels = batch(4)
    assert sorted(_step(method, images, labels, [3, 7, 1, 0])) == ["ce"]  # epoch 0: CE only, logits recorded
    with torch.no_grad():
        first = method.student(images)
    torch.testing.assert_close(method.recorded[[3, 7, 1, 0]], first)
    assert not method.recorded[[2, 4]].any()  # unseen samples keep zero logits
    method.on_epoch_end(0)
    with torch.no_grad():  # move the student so that its current logits differ from the recorded ones
        for parameter in method.student.parameters():
            parameter.add_(0.05)
    terms = _step(method, images[[1, 0]], labels[[1, 0]], [7, 3])  # same samples, other order
    with torch.no_grad():
        current = method.student(images[[1, 0]])
    expected = method.loss(current, first[[1, 0]], labels[[1, 0]])["kd"]
    assert terms["kd"].item() == pytest.approx(expected.item(), rel=1e-5)  # teacher = the recorded epoch-0 logits
    torch.testing.assert_close(method.recorded[[7, 3]], current)  # and the record moved on
    terms["kd"].backward()
    assert all(p.grad is not None for p in method.student.parameters() if p.requires_grad)


def test_previous_epoch_record_is_checkpointed() -> None:
    method = build_method(RECORDED)
    _step(method, *batch(4), [0, 1, 2, 3])
    state = method.trainable_state_dict()
    resumed = build_method(RECORDED)
    resumed.load_trainable_state_dict(state)
    torch.testing.assert_close(resumed.recorded, method.recorded)


def test_first_epoch_is_plain_ce_then_the_snapshot_teaches() -> None:
    method = build_method(DRKD)
    assert sorted(method.training_step(*batch())) == ["ce"]
    method.on_epoch_end(0)
    for snap, live in zip(method.snapshot.state_dict().values(), method.student.state_dict().values(), strict=True):
        assert torch.equal(snap, live)
    assert sorted(method.training_step(*batch())) == ["ce", "kd"]


def test_ce_warmup_epochs_delays_the_snapshot_teacher() -> None:
    method = build_method({**DRKD, "ce_warmup_epochs": 3})
    for epoch in range(3):
        assert sorted(method.training_step(*batch())) == ["ce"]
        method.on_epoch_end(epoch)
    assert sorted(method.training_step(*batch())) == ["ce", "kd"]
    pretrained = build_method({**DRKD, "teacher": "pretrained", "pretrained": TINY_CNN, "ce_warmup_epochs": 3})
    assert sorted(pretrained.training_step(*batch())) == ["ce", "kd"]


def test_snapshot_gets_no_gradient_and_stays_fixed_within_an_epoch() -> None:
    method = build_method(DRKD)
    method.on_epoch_end(0)
    before = [p.clone() for p in method.snapshot.parameters()]
    losses = fit_fixed_batch(method)
    assert losses[-1] < losses[0]
    assert all(p.grad is None for p in method.snapshot.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, method.snapshot.parameters(), strict=True))
    assert not method.snapshot.training


def test_rectification_on_a_hand_made_batch() -> None:
    method = build_method({**DRKD, "alpha": 1.0, "tau": 1.0})
    method.on_epoch_end(0)
    method.eval()
    images, _ = batch(2)
    with torch.no_grad():
        snapshot = method.snapshot(images)
        student = method.student(images)
    wrong = (snapshot.argmax(1) + 1) % 10  # labels the snapshot gets wrong
    rectified = snapshot.clone()
    rows = torch.arange(2)
    rectified[rows, wrong], rectified[rows, snapshot.argmax(1)] = snapshot.max(1).values, snapshot[rows, wrong]
    expected = method.loss.soft_target(student, rectified)
    assert method.training_step(images, wrong)["kd"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_ema_snapshot_moves_towards_the_student() -> None:
    method = build_method({**DRKD, "teacher": "ema", "ema_decay": 0.5})
    method.on_epoch_end(0)
    snap_before = [p.clone() for p in method.snapshot.parameters()]
    fit_fixed_batch(method, steps=1)
    for before, snap, live in zip(snap_before, method.snapshot.parameters(), method.student.parameters(), strict=True):
        assert torch.allclose(snap, 0.5 * before + 0.5 * live, atol=1e-6)


def test_snapshot_and_epoch_count_are_checkpointed_and_restored() -> None:
    method = build_method(DRKD)
    method.on_epoch_end(0)
    state = method.trainable_state_dict()
    assert "epochs.count" in state and any(k.startswith("snapshot.") for k in state)
    resumed = build_method(DRKD)
    resumed.load_trainable_state_dict(state)
    assert resumed.epochs.value == 1
    assert sorted(resumed.training_step(*batch())) == ["ce", "kd"]


def test_pretrained_teacher_needs_a_model() -> None:
    with pytest.raises(pydantic.ValidationError, match="pretrained"):
        DRKDConfig(name="d", student=TINY_CNN, teacher="pretrained")
    with pytest.raises(pydantic.ValidationError, match="previous_epoch"):
        DRKDConfig(name="d", student=TINY_CNN, teacher="same_forward")


@pytest.mark.parametrize("teacher", ["previous_epoch", "ema"])
def test_runs_in_a_tiny_pipeline(tmp_path: Path, teacher: str) -> None:
    results = run_tiny(tmp_path, [{"name": "drkd", **DRKD, "teacher": teacher}], epochs=3)
    assert 0.0 <= results["drkd"]["test_top1"] <= 1.0


def test_linear_alpha_schedule_ramps_to_alpha_over_the_stage() -> None:
    method = build_method({**RECORDED, "alpha": 0.8, "alpha_schedule": "linear", "epochs": 4})
    alphas = []
    for epoch in range(4):
        alphas.append(method._alpha())
        method.on_epoch_end(epoch)
    assert alphas == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert build_method({**RECORDED, "alpha": 0.8})._alpha() == 0.8


@pytest.mark.parametrize(("weighting", "ce_weight"), [("convex", 0.75), ("additive", 1.0)])
def test_weighting_sets_the_ce_weight(weighting: str, ce_weight: float) -> None:
    method = build_method({**RECORDED, "alpha": 0.25, "weighting": weighting})
    method.eval()
    images, labels = batch(4)
    _step(method, images, labels, [0, 1, 2, 3])
    method.on_epoch_end(0)
    terms = _step(method, images, labels, [0, 1, 2, 3])
    with torch.no_grad():
        ce = torch.nn.functional.cross_entropy(method.student(images), labels)
    assert terms["ce"].item() == pytest.approx(ce_weight * ce.item(), rel=1e-5)
    assert terms["kd"].requires_grad
