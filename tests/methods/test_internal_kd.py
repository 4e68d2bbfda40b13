"""Internal-representation KD: layer maps, all-layers / PID / SID schedules, attention models only, tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from kd_helpers import TINY_CNN, TINY_VIT, batch, build_method, fit_fixed_batch, run_tiny

from ssl_kd.errors import ConfigError
from ssl_kd.methods.internal_kd import default_layer_map, phase_layers
from ssl_kd.models import build_model

TEACHER_VIT = {"arch": "vit", "options": {**TINY_VIT["options"], "depth": 4}}
INTERNAL = {"method": "internal_kd", "student": TINY_VIT, "teacher": {"from": "teacher"}}


def _teacher() -> torch.nn.Module:
    torch.manual_seed(3)
    return build_model(TEACHER_VIT["arch"], 10, **TEACHER_VIT["options"]).eval()


def test_default_layer_map() -> None:
    assert default_layer_map(2, 4) == {1: 2, 2: 4}
    assert default_layer_map(3, 3) == {1: 1, 2: 2, 3: 3}


@pytest.mark.parametrize(
    ("algorithm", "epoch", "expected"),
    [
        ("all_layers", 0, [(1, 2), (2, 4)]),
        ("all_layers", 9, [(1, 2), (2, 4)]),
        ("pid", 0, [(1, 2)]),
        ("pid", 1, [(1, 2)]),
        ("pid", 2, [(2, 4)]),
        ("pid", 4, []),
        ("sid", 2, [(1, 2), (2, 4)]),
        ("sid", 1, [(1, 2)]),
        ("sid", 5, []),
    ],
)
def test_phase_layers(algorithm: str, epoch: int, expected: list) -> None:
    assert phase_layers(algorithm, [(1, 2), (2, 4)], epoch, per_layer=2) == expected


def test_all_layers_terms_and_loss_decreases() -> None:
    method = build_method(INTERNAL, _teacher())
    assert method.pairs == [(1, 2), (2, 4)]
    assert sorted(method.training_step(*batch())) == ["att_1", "att_2", "ce", "cls_1", "cls_2", "kd"]
    losses = fit_fixed_batch(method, lr=0.01)
    assert losses[-1] < losses[0]
    assert all(p.grad is None for p in method.teacher.parameters())


@pytest.mark.parametrize(
    ("algorithm", "per_epoch"),
    [
        ("pid", [["att_1", "cls_1"], ["att_2", "cls_2"], ["ce", "kd"]]),
        ("sid", [["att_1", "cls_1"], ["att_1", "att_2", "cls_1", "cls_2"], ["ce", "kd"]]),
    ],
)
def test_progressive_and_stacked_schedules_follow_the_epoch(algorithm: str, per_epoch: list) -> None:
    method = build_method({**INTERNAL, "algorithm": algorithm, "epochs": 3}, _teacher())
    for epoch, expected in enumerate(per_epoch):
        assert sorted(method.training_step(*batch())) == expected
        method.on_epoch_end(epoch)


def test_signals_and_layer_map_switches() -> None:
    method = build_method({**INTERNAL, "signals": "att", "layer_map": {2: 3}}, _teacher())
    assert sorted(method.training_step(*batch())) == ["att_2", "ce", "kd"]
    method = build_method({**INTERNAL, "signals": "cls"}, _teacher())
    assert sorted(method.training_step(*batch())) == ["ce", "cls_1", "cls_2", "kd"]


def test_bad_setups_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="does not expose attention maps"):
        build_method({**INTERNAL, "student": TINY_CNN}, _teacher())
    with pytest.raises(ConfigError, match="out of range"):
        build_method({**INTERNAL, "layer_map": {1: 5}}, _teacher())
    with pytest.raises(ConfigError, match="pid needs epochs > 2"):
        build_method({**INTERNAL, "algorithm": "pid", "epochs": 2}, _teacher())


def test_schedule_resumes_from_the_checkpointed_epoch() -> None:
    method = build_method({**INTERNAL, "algorithm": "pid", "epochs": 3}, _teacher())
    method.on_epoch_end(0)
    resumed = build_method({**INTERNAL, "algorithm": "pid", "epochs": 3}, _teacher())
    resumed.load_trainable_state_dict(method.trainable_state_dict())
    assert sorted(resumed.training_step(*batch())) == ["att_2", "cls_2"]


def test_vit_pair_runs_in_a_tiny_pipeline(tmp_path: Path) -> None:
    results = run_tiny(
        tmp_path,
        [
            {"name": "teacher", "method": "supervised", "model": TEACHER_VIT, "epochs": 1},
            {**INTERNAL, "name": "internal", "algorithm": "sid", "epochs": 3},
        ],
    )
    assert 0.0 <= results["internal"]["test_top1"] <= 1.0
