"""Detectors: the interface distillation methods use (levels, strides, losses, detections) and the model file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_kd import builtins
from ssl_kd.detection.models import Detector
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.errors import ConfigError
from ssl_kd.models.saved import load_saved_model
from ssl_kd.registry import MODELS

builtins.load()
SMALL = {"backbone": "mobilenet_v3_small", "backbone_options": {"small_input": False}, "fpn_channels": 32}
BOXES = [torch.tensor([[4.0, 6, 30, 40], [35, 30, 60, 62]]), torch.zeros(0, 4)]
LABELS = [torch.tensor([3, 10]), torch.zeros(0, dtype=torch.int64)]


@pytest.mark.parametrize("arch", ["retinanet", "fcos"])
def test_levels_strides_and_losses_with_gradients(arch: str) -> None:
    torch.manual_seed(0)
    model = MODELS.get(arch)(num_classes=10, **SMALL)
    images = torch.rand(2, 3, 64, 64)
    features = model.features(model.normalize(images))
    assert model.strides() == [8, 16, 32]
    assert [tuple(f.shape) for f in features] == [(2, 32, 8, 8), (2, 32, 4, 4), (2, 32, 2, 2)]
    losses = model.detection_losses(images, features, BOXES, LABELS)
    expected = {"classification", "bbox_regression"} | ({"bbox_ctrness"} if arch == "fcos" else set())
    assert set(losses) == expected and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.net.head.parameters())
    assert model.pyramid.body.blocks["stem"][0][0].weight.grad.abs().sum() > 0


def test_label_k_is_scored_by_head_column_k_minus_1() -> None:
    """A head biased towards one column detects that column's label + 1: labels stay 1..num_classes."""
    torch.manual_seed(0)
    model = MODELS.get("retinanet")(num_classes=10, **SMALL).eval()
    bias = model.net.head.classification_head.cls_logits.bias
    with torch.no_grad():
        bias.view(-1, 10)[:, 4] = 5.0  # column 4 of every anchor
        detections = model(torch.rand(1, 3, 64, 64))
    assert len(detections[0]["labels"]) and set(detections[0]["labels"].tolist()) == {5}
    assert set(detections[0]) == {"boxes", "scores", "labels"}
    boxes = detections[0]["boxes"]
    assert boxes.min() >= 0 and boxes.max() <= 64 and (boxes[:, 2:] >= boxes[:, :2]).all()


def test_the_model_file_rebuilds_the_same_detector(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MODELS.get("fcos")(num_classes=4, **SMALL, score_thresh=0.0).eval()
    save_model(tmp_path / "model.pt", model, model.spec(), image_size=64)
    loaded, meta = load_saved_model(tmp_path)
    assert isinstance(loaded, Detector) and loaded.spec() == model.spec() and meta["image_size"] == 64
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for ours, theirs in zip(model(images), loaded.eval()(images), strict=True):
            assert torch.equal(ours["boxes"], theirs["boxes"]) and torch.equal(ours["labels"], theirs["labels"])


def test_unknown_backbone_and_odd_fpn_width_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not one of"):
        Detector(10, backbone="vit_tiny")
    with pytest.raises(ConfigError, match="multiple of 32"):
        Detector(10, backbone="resnet18", fpn_channels=48)
