"""Tests for the backbone models and build_model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ssl_kd.models  # noqa: F401  (registers the architectures)
from ssl_kd.errors import ConfigError
from ssl_kd.models import BackboneModel, build_model
from ssl_kd.registry import MODELS

VIDEO_ARCHS = {"r2plus1d", "x3d"}  # clip inputs (B, T, C, H, W): tests/models/test_video_models.py
OWN_TESTS = {"alexnet_ssl", "timm"}  # 224-px input / a family: tests/models/test_alexnet_ssl.py, test_timm_backbone.py
# The image backbones (other domains, e.g. KG embeddings, register their models from their own packages)
ARCHS = [
    arch
    for arch in MODELS
    if arch not in VIDEO_ARCHS | OWN_TESTS and MODELS.get(arch).__module__.startswith("ssl_kd.models")
]
NUM_CLASSES = 5


@pytest.fixture(scope="module", params=ARCHS)
def model(request: pytest.FixtureRequest) -> BackboneModel:
    torch.manual_seed(0)
    return build_model(request.param, NUM_CLASSES).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32)


def test_all_archs_registered() -> None:
    assert {"alexnet", "mobilenet_v2", "mobilenet_v3_small", "resnet18", "resnet50"} <= set(ARCHS)


@torch.no_grad()
def test_output_shapes(model: BackboneModel, images: torch.Tensor) -> None:
    assert model(images).shape == (2, NUM_CLASSES)
    assert model.forward_features(images).shape == (2, model.feature_dim)


@torch.no_grad()
def test_forward_taps_match_forward(model: BackboneModel, images: torch.Tensor) -> None:
    taps = model.forward_taps(images, model.tap_names)
    assert list(taps) == list(model.tap_names)
    assert all(tap.shape[0] == 2 for tap in taps.values())
    torch.testing.assert_close(taps["logits"], model(images))
    torch.testing.assert_close(taps["features"], model.forward_features(images))


@torch.no_grad()
def test_forward_taps_subset_in_requested_order(model: BackboneModel, images: torch.Tensor) -> None:
    first = model.tap_names[0]
    taps = model.forward_taps(images, ["features", first])
    assert list(taps) == ["features", first]
    assert model.forward_taps(images, []) == {}


def test_unknown_tap_names_nearest(model: BackboneModel, images: torch.Tensor) -> None:
    with pytest.raises(ConfigError, match="did you mean 'features'"):
        model.forward_taps(images, ["featurs"])


def test_unknown_option_is_named(model: BackboneModel) -> None:
    with pytest.raises(ConfigError, match="'no_such_option'") as info:
        build_model(model.arch, NUM_CLASSES, no_such_option=1)
    assert "in_channels" in str(info.value)


def test_spec_round_trips(model: BackboneModel) -> None:
    spec = model.spec()
    assert spec["arch"] == model.arch and spec["num_classes"] == NUM_CLASSES
    rebuilt = build_model(**spec)
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    assert rebuilt.spec() == spec


@pytest.mark.parametrize("arch", ARCHS)
def test_headless_model_returns_features(arch: str, images: torch.Tensor) -> None:
    model = build_model(arch, 0).eval()
    assert isinstance(model.classifier, nn.Identity)
    with torch.no_grad():
        taps = model.forward_taps(images, ["features", "logits"])
    torch.testing.assert_close(taps["logits"], taps["features"])


def test_unknown_arch_names_nearest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'resnet18'"):
        build_model("resnet19", NUM_CLASSES)


def test_options_from_spec_and_keywords_merge() -> None:
    model = build_model("resnet18", NUM_CLASSES, {"stem": "cifar"}, in_channels=1)
    assert model.spec()["options"] == {"stem": "cifar", "in_channels": 1}


@torch.no_grad()
def test_alexnet_conv_taps_shrink(images: torch.Tensor) -> None:
    model = build_model("alexnet", NUM_CLASSES).eval()
    names = [f"conv{i}" for i in range(1, 6)]
    taps = model.forward_taps(images, names)
    sizes = [taps[name].shape[-1] for name in names]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    assert all(taps[name].min() >= 0 for name in names)  # post-ReLU


@torch.no_grad()
def test_alexnet_accepts_larger_inputs() -> None:
    model = build_model("alexnet", NUM_CLASSES, width=0.25, fc_dim=16).eval()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, NUM_CLASSES)


@pytest.mark.parametrize(("stem", "size"), [("imagenet", 8), ("small", 16), ("cifar", 32)])
@torch.no_grad()
def test_resnet_stem_layer1_size(stem: str, size: int, images: torch.Tensor) -> None:
    model = build_model("resnet18", NUM_CLASSES, stem=stem).eval()
    assert model.forward_taps(images, ["layer1"])["layer1"].shape == (2, 64, size, size)


def test_resnet_unknown_stem() -> None:
    with pytest.raises(ConfigError, match="stem"):
        build_model("resnet18", NUM_CLASSES, stem="tiny")


@pytest.mark.parametrize("arch", ["mobilenet_v2", "mobilenet_v3_small"])
@pytest.mark.parametrize("small_input", [False, True])
@torch.no_grad()
def test_mobilenet_small_input_doubles_resolution(arch: str, small_input: bool, images: torch.Tensor) -> None:
    model = build_model(arch, NUM_CLASSES, small_input=small_input).eval()
    stem = model.forward_taps(images, ["stem"])["stem"]
    assert stem.shape[-1] == (32 if small_input else 16)


@pytest.mark.parametrize("arch", ARCHS)
@torch.no_grad()
def test_in_channels(arch: str) -> None:
    model = build_model(arch, NUM_CLASSES, in_channels=1).eval()
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, NUM_CLASSES)


def test_mobilenet_v3_uses_default_batchnorm_momentum() -> None:
    model = build_model("mobilenet_v3_small", NUM_CLASSES)
    assert {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {0.1}
