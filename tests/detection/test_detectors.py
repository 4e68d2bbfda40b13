"""Detectors: the interface distillation methods use (levels, strides, losses, detections) and the model file."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ssl_kd import builtins
from ssl_kd.config.schema import ModelSpec
from ssl_kd.detection.methods.base import detector_model
from ssl_kd.detection.models import Detector
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.engine.method import MethodEnv
from ssl_kd.errors import ConfigError, DataError
from ssl_kd.models import build_model
from ssl_kd.models.saved import load_saved_model
from ssl_kd.registry import MODELS
from ssl_kd.stages.base import StageContext

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


def test_copy_backbone_fills_the_detector_backbone_and_leaves_fpn_and_head() -> None:
    from ssl_kd.models.weights import copy_backbone

    torch.manual_seed(0)
    classifier = build_model("mobilenet_v3_small", 10, small_input=False)
    detector = MODELS.get("retinanet")(num_classes=10, **SMALL)
    head_before = {k: v.clone() for k, v in detector.net.head.state_dict().items()}
    fpn_before = {k: v.clone() for k, v in detector.pyramid.fpn.state_dict().items()}
    line = copy_backbone(classifier, detector, "pretrain")
    source = classifier.state_dict()
    body = detector.backbone_body().state_dict()
    assert body and all(torch.equal(tensor, source[name]) for name, tensor in body.items())
    assert all(torch.equal(v, head_before[k]) for k, v in detector.net.head.state_dict().items())
    assert all(torch.equal(v, fpn_before[k]) for k, v in detector.pyramid.fpn.state_dict().items())
    left_out = [name for name in source if name not in body]
    assert left_out and all(name.startswith(("classifier.", "pool.")) for name in left_out)  # V3: pool has a Linear
    assert f"copied {len(body)} tensors" in line and f"{len(left_out)} head tensor(s) left out" in line


def test_copy_backbone_refuses_another_arch_or_options() -> None:
    from ssl_kd.models.weights import copy_backbone

    detector = MODELS.get("retinanet")(num_classes=10, **SMALL)
    for other in (build_model("resnet18", 10), build_model("mobilenet_v3_small", 10, small_input=True)):
        with pytest.raises(DataError, match="give the same arch and options"):
            copy_backbone(other, detector, "pretrain")


def test_a_weights_file_on_a_detector_loads_its_backbone(tmp_path: Path) -> None:
    """torchvision's ResNet-18 layout (the ImageNet file a user would give) goes into the backbone through the
    stage's load_model, as a detection stage's ``weights:`` key does, not ignored."""
    import torchvision

    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    options = {"backbone": "resnet18", "fpn_channels": 32}
    spec = ModelSpec.model_validate({"arch": "retinanet", "options": options, "weights": tmp_path / "resnet18.pth"})
    detector = detector_model(spec, method_env(tmp_path, num_classes=10))
    assert detector.num_classes == 10
    assert torch.equal(detector.backbone_body().blocks["layer4"][1].conv2.weight, reference.layer4[1].conv2.weight)


def test_detector_options_are_checked_like_any_model_s() -> None:
    """``build_model`` builds a detector from its spec and names the nearest option on a typo."""
    detector = build_model("fcos", 4, backbone="resnet18", fpn_channels=32)
    assert isinstance(detector, Detector) and detector.head_kind == "fcos" and detector.num_classes == 4
    with pytest.raises(
        ConfigError, match=r"unknown option 'fpn_channel' for model 'retinanet' \(did you mean 'fpn_channels'\?\)"
    ):
        build_model("retinanet", 4, fpn_channel=32)


def test_a_detection_stage_refuses_a_classifier_or_a_detector_of_other_classes(tmp_path: Path) -> None:
    env = method_env(tmp_path, num_classes=3)
    with pytest.raises(ConfigError, match="model 'resnet18' is not a detector"):
        detector_model(ModelSpec.model_validate({"arch": "resnet18"}), env)
    classifier = build_model("resnet18", 3)
    save_model(tmp_path / "pretrain" / "model.pt", classifier, classifier.spec())
    with pytest.raises(ConfigError, match="stage 'pretrain' made a 'resnet18' model, not a detector"):
        detector_model(ModelSpec.model_validate({"from": "pretrain"}), env)
    teacher = build_model("retinanet", 5, **SMALL)
    save_model(tmp_path / "teacher" / "model.pt", teacher, teacher.spec(), image_size=64)
    with pytest.raises(ConfigError, match="stage 'teacher' made a 5-class model; this stage's data has 3"):
        detector_model(ModelSpec.model_validate({"from": "teacher"}), env)


def method_env(run_dir: Path, num_classes: int) -> MethodEnv:
    """What a detection stage in ``run_dir`` hands its method: the data's class count and the stage's load_model."""
    ctx = StageContext(run_dir, run_dir / "stage", "", logging.getLogger("test"))
    return MethodEnv(SimpleNamespace(num_classes=num_classes), ctx.load_model)
