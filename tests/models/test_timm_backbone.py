"""``arch: timm:<name>``: any timm model built offline, with taps, weights from timm files, and a full pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from ssl_kd.config import load_pipeline
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.errors import ConfigError
from ssl_kd.models import build_model
from ssl_kd.models.saved import load_saved_model
from ssl_kd.models.weights import load_weights
from ssl_kd.scheduler import Scheduler

from conftest import REPO

TINY_KD = [
    "data.train_per_class=3",
    "data.batch_size=10",
    "engine.progress=false",
    "engine.tensorboard=false",
    "engine.eval_every=0",
    "engine.device=cpu",
    "teacher.epochs=1",
    "distill.epochs=1",
    "probe.shots=[1]",
    "probe.draws=1",
    "probe.raw_pixels=false",
]


def test_taps_are_timms_feature_modules_and_features_its_pre_logits() -> None:
    model = build_model("timm:resnet18", 10).eval()
    assert model.tap_names == ("act1", "layer1", "layer2", "layer3", "layer4", "features", "logits")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        taps = model.forward_taps(images, ["layer2", "act1", "features", "logits"])
        pre_logits = model.net.forward_head(model.net.forward_features(images), pre_logits=True)
    assert list(taps) == ["layer2", "act1", "features", "logits"]
    assert taps["act1"].shape == (2, 64, 16, 16) and taps["layer2"].shape == (2, 128, 4, 4)
    assert torch.equal(taps["features"], pre_logits) and taps["logits"].shape == (2, 10)
    assert build_model("timm:mobilenetv4_conv_small", 0).feature_dim == 1280  # the head's hidden width, not 960
    with pytest.raises(ConfigError, match="unknown tap 'layer5'"):
        model.forward_taps(images, ["layer5"])


def test_a_timm_checkpoint_loads_exactly_and_the_spec_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = timm.create_model("resnet18", pretrained=False, num_classes=1000).eval()
    torch.save({"state_dict_ema": reference.state_dict(), "epoch": 3}, tmp_path / "timm.pth.tar")
    model = build_model("timm:resnet18", 1000)
    plan = load_weights(model, tmp_path / "timm.pth.tar")
    assert plan.checkpoint.layout.name == "timm_ema" and len(plan.loaded) == len(reference.state_dict())
    images = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert (model.eval()(images) - reference.to(memory_format=torch.channels_last)(images)).abs().max() == 0
    save_model(tmp_path / "stage" / "model.pt", model, model.spec())
    again, _ = load_saved_model(tmp_path / "stage")
    with torch.no_grad():
        assert torch.equal(again.eval()(images), model(images))


def test_unknown_timm_names_fail_with_the_nearest_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown timm model 'mobilenetv4_conv_smal' \(nearest: mobilenetv4_conv_small"
    ):
        build_model("timm:mobilenetv4_conv_smal", 0)
    with pytest.raises(ConfigError, match="is a family: give a name"):
        build_model("timm", 0)
    with pytest.raises(ConfigError, match="takes no :name"):
        build_model("resnet18:x", 0)


def test_kd_digits_trains_a_timm_teacher_and_student_and_exports_both(tmp_path: Path) -> None:
    from ssl_kd.export import export_stage  # after the stages: importing ssl_kd.export first is circular

    overrides = ["teacher.model.arch=timm:resnet18", "distill.student.arch=timm:mobilenetv3_small_050", *TINY_KD]
    pipeline = load_pipeline(REPO / "pipelines" / "kd_digits.yaml", overrides)
    results = {outcome.name: outcome.metrics for outcome in Scheduler(pipeline, tmp_path / "run").run()}
    assert 0 <= results["distill"]["test_top1"] <= 1 and "linear_top1" in results["probe"]
    # ONNX (the dynamo exporter takes tens of seconds here) for the student, the model a user deploys
    for stage, formats in (("teacher", ["torchscript"]), ("distill", ["onnx", "torchscript"])):
        manifest = export_stage(tmp_path / "run" / stage, tmp_path / stage, formats)
        assert sorted(manifest["files"]) == sorted(formats)
        assert all(entry["max_abs_diff"] <= 1e-4 for entry in manifest["files"].values())
