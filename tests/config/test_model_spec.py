"""ModelSpec's weights and backbone keys and EngineConfig's device strings: validated early, fingerprints unchanged
when unset."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ssl_kd import builtins
from ssl_kd.config.schema import EngineConfig, ModelSpec
from ssl_kd.errors import ConfigError

builtins.load()


def test_unset_weights_keys_leave_the_dump_and_fingerprint_as_before() -> None:
    assert ModelSpec(arch="resnet18").model_dump(mode="json", by_alias=True) == {
        "arch": "resnet18",
        "from": None,
        "options": {},
    }


def test_weights_are_dumped_when_set(tmp_path: Path) -> None:
    (tmp_path / "w.pth").write_bytes(b"")
    spec = ModelSpec(arch="resnet50", weights=tmp_path / "w.pth", weights_key="teacher")
    dumped = spec.model_dump(mode="json", by_alias=True)
    assert dumped["weights"] == str(tmp_path / "w.pth") and dumped["weights_key"] == "teacher"
    assert "strip_prefix" not in dumped


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"from": "teacher", "weights": "w.pth"}, "a model loaded 'from' a stage has its own"),
        ({"arch": "resnet18", "weights_key": "teacher"}, "only apply with 'weights'"),
        ({"arch": "resnet18", "weights": "missing.pth"}, "weights file 'missing.pth' does not exist"),
        ({"arch": "timm:no_such_net"}, "unknown timm model 'no_such_net'"),
        ({"arch": "timm"}, "is a family: give a name"),
        ({"from": "teacher", "backbone_from": "pretrain"}, "'backbone_from' initialises a new 'arch'"),
        ({"arch": "retinanet", "backbone_from": "pretrain", "weights": "w.pth"}, "not both"),
    ],
)
def test_bad_model_specs_are_refused(fields: dict, message: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pth").write_bytes(b"")
    with pytest.raises((ValidationError, ConfigError), match=message):
        ModelSpec.model_validate(fields)


def test_backbone_from_is_dumped_and_referenced_when_set() -> None:
    from ssl_kd.detection.methods.detector import DetectorConfig

    spec = ModelSpec(arch="retinanet", backbone_from="pretrain")
    assert spec.model_dump(mode="json", by_alias=True)["backbone_from"] == "pretrain"
    assert spec.pretrained_keys() == ["backbone_from"]
    stage = DetectorConfig(name="student", kind="train", method="detector", model=spec)
    assert stage.references() == {"model.backbone_from": "pretrain"}


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_strings_that_are_accepted(device: str) -> None:
    assert EngineConfig(device=device).device == device


@pytest.mark.parametrize("device", ["tpu", "gpu", "cuda:", "cuda:x", "CPU", "mps"])
def test_device_strings_that_are_refused(device: str) -> None:
    with pytest.raises(ValidationError, match=r"engine.device must be auto, cpu, cuda or cuda:N"):
        EngineConfig(device=device)


@pytest.mark.parametrize(
    ("builder", "arch"),
    [
        ("ssl_kd.kg.methods.base:kge_model", "transe"),
        ("ssl_kd.recsys.methods.base:bpr_mf_model", "bpr_mf"),
        ("ssl_kd.graph.methods.base:graph_model", "gcn"),
    ],
)
def test_models_without_a_backbone_refuse_pretrained_keys_rather_than_ignore_them(builder: str, arch: str) -> None:
    import importlib
    from types import SimpleNamespace

    module, name = builder.split(":")
    build = getattr(importlib.import_module(module), name)
    facts = SimpleNamespace(num_features=4, num_classes=2, num_nodes=5)
    with pytest.raises(ConfigError, match=r"backbone_from: .* has no pretrained backbone"):
        build(ModelSpec(arch=arch, backbone_from="pretrain"), SimpleNamespace(facts=facts))
