"""Per-layer heads on a frozen trunk: they learn separable maps, the trunk stays untouched, bad taps are refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssl_kd import builtins
from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.errors import ConfigError
from ssl_kd.evaluation.layer_probe import LayerProbeSettings, train_layer_probes
from ssl_kd.models.base import BackboneModel
from ssl_kd.stages.probe import ProbeStageConfig

builtins.load()
GRIDS = {"conv1": 2, "conv2": 1}


def _trunk() -> BackboneModel:
    blocks = {"conv1": nn.Conv2d(3, 4, 3, padding=1), "conv2": nn.Sequential(nn.Conv2d(4, 6, 3, stride=2), nn.ReLU())}
    return BackboneModel(blocks, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1)), 6, 0)


def _batches(images: torch.Tensor, labels: torch.Tensor, sampler: ResumableBatchSampler) -> list:
    class Loader:
        def __iter__(self):  # the sampler's batches of (index, seed) pairs, as the training loader yields them
            for batch in sampler:
                index = torch.tensor([i for i, _ in batch])
                yield images[index], labels[index]

    return Loader()


def test_heads_learn_separable_maps_on_a_frozen_trunk() -> None:
    torch.manual_seed(0)
    labels = torch.arange(3).repeat(20)
    images = torch.randn(60, 3, 8, 8) * 0.3 + labels[:, None, None, None].float() - 1
    trunk = _trunk()
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    sampler = ResumableBatchSampler(60, 20, seed=0)
    settings = LayerProbeSettings(epochs=15, lr=1.0, milestones=(10,), weight_decay=0.0)
    metrics = train_layer_probes(
        trunk, _batches(images, labels, sampler), sampler, [(images, labels)], 3, settings, torch.device("cpu"), GRIDS
    )
    assert set(metrics) == {"conv1_linear_top1", "conv1_linear_top5", "conv2_linear_top1", "conv2_linear_top5"}
    assert metrics["conv1_linear_top1"] > 0.9 and metrics["conv2_linear_top1"] > 0.9
    assert metrics["conv1_linear_top5"] == 1.0
    assert all(torch.equal(before[k], v) for k, v in trunk.state_dict().items())
    assert not trunk.training


def test_a_trunk_without_the_taps_is_refused() -> None:
    sampler = ResumableBatchSampler(4, 2, seed=0)
    with pytest.raises(ConfigError, match=r"the layer probe reads taps conv1, conv3; .* lacks conv3"):
        train_layer_probes(
            _trunk(), [], sampler, [], 3, LayerProbeSettings(), torch.device("cpu"), {"conv1": 2, "conv3": 1}
        )


def test_the_protocol_is_left_out_of_old_probe_fingerprints() -> None:
    plain = ProbeStageConfig(name="probe", model=ModelSpec.model_validate({"from": "train"}))
    assert "protocol" not in plain.model_dump() and "layer_probe" not in plain.model_dump()
    named = ProbeStageConfig(
        name="probe",
        model=ModelSpec.model_validate({"from": "train"}),
        protocol="alexnet_conv",
        layer_probe={"epochs": 2},
    )
    assert named.model_dump()["protocol"] == "alexnet_conv" and named.model_dump()["layer_probe"]["epochs"] == 2
    with pytest.raises(ValueError, match="layer_probe only applies with protocol: alexnet_conv"):
        ProbeStageConfig(name="probe", model=ModelSpec.model_validate({"from": "train"}), layer_probe={"epochs": 2})
