"""FitNets hint distillation: adapters between shapes, taps chosen by name, bad names, the two-stage pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from kd_helpers import TINY_CNN, batch, build_method, fit_fixed_batch, run_tiny

from ssl_kd.cli import main
from ssl_kd.errors import ConfigError
from ssl_kd.methods.hint import HintAdapter
from ssl_kd.models import build_model

TEACHER = {"arch": "resnet18", "options": {"stem": "imagenet"}}
HINT = {
    "method": "hint",
    "student": TINY_CNN,
    "teacher": {"from": "teacher"},
    "pairs": [{"student": "conv2", "teacher": "layer2"}, {"student": "features", "teacher": "features"}],
}


def _teacher() -> torch.nn.Module:
    torch.manual_seed(3)
    return build_model(TEACHER["arch"], 10, **TEACHER["options"]).eval()


@pytest.mark.parametrize(
    ("source", "target"),
    [((8, 16, 16), (32, 4, 4)), ((8, 2, 2), (32, 4, 4)), ((8, 4, 4), (32, 4, 4)), ((24,), (64,)), ((5, 8), (5, 16))],
)
def test_adapter_maps_student_shapes_to_teacher_shapes(source: tuple, target: tuple) -> None:
    adapter = HintAdapter(torch.Size(source), torch.Size(target))
    assert adapter(torch.randn(2, *source)).shape == (2, *target)


def test_adapter_rejects_incompatible_ranks() -> None:
    with pytest.raises(ConfigError, match="cannot adapt"):
        HintAdapter(torch.Size((8, 4, 4)), torch.Size((64,)))


def test_hint_terms_and_loss_decrease() -> None:
    method = build_method({**HINT, "kd_weight": 1.0}, _teacher())
    assert sorted(method.training_step(*batch())) == ["ce", "hint", "kd"]
    losses = fit_fixed_batch(method)
    assert losses[-1] < losses[0]
    assert all(p.grad is None for p in method.teacher.parameters())
    assert all(p.grad is not None for p in method.adapters.parameters())


def test_hint_only_stage_trains_no_classifier() -> None:
    method = build_method({**HINT, "ce_weight": 0.0, "pairs": HINT["pairs"][:1]}, _teacher())
    terms = method.training_step(*batch())
    assert sorted(terms) == ["hint"]
    terms["hint"].backward()
    assert method.student.classifier.weight.grad is None


def test_unknown_layer_lists_the_available_taps() -> None:
    bad = {**HINT, "pairs": [{"student": "conv9", "teacher": "layer2"}]}
    with pytest.raises(ConfigError, match=r"pairs\[\]\.student.*'conv9'.*valid taps: conv1, conv2, conv3"):
        build_method(bad, _teacher())


def test_unknown_layer_stops_the_pipeline_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from kd_helpers import TINY_PIPELINE, write_pipeline

    raw = {**TINY_PIPELINE, "stages": [{"name": "h", "kind": "train", "method": "hint", "student": TINY_CNN}]}
    raw["stages"][0] |= {"teacher": TINY_CNN, "pairs": [{"student": "conv2", "teacher": "layer2"}]}
    code = main(["run", str(write_pipeline(tmp_path / "p.yaml", raw)), "--run-dir", str(tmp_path / "r"), "-q"])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown tap 'layer2'" in last and "valid taps: conv1, conv2, conv3, conv4, conv5, features, logits" in last


def test_fitnets_two_stages_in_a_tiny_pipeline(tmp_path: Path) -> None:
    results = run_tiny(
        tmp_path,
        [
            {"name": "teacher", "method": "supervised", "model": TEACHER, "epochs": 1},
            {**HINT, "name": "hint", "ce_weight": 0.0, "pairs": HINT["pairs"][:1], "epochs": 1},
            {"name": "kd", "method": "hinton_kd", "student": {"from": "hint"}, "teacher": {"from": "teacher"}},
        ],
    )
    assert 0.0 <= results["kd"]["test_top1"] <= 1.0
