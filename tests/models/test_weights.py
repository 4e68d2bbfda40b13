"""Weights from a file: every common checkpoint layout of a ResNet-50 loads exactly; bad files fail in one line.

The checkpoints are made here from one seeded random torchvision ResNet-50 (every tensor, BatchNorm statistics
included, randomised so that a tensor loaded into the wrong place changes the output), wrapped the way MoCo, SwAV,
DINO, Barlow Twins, solo-learn, timm and this library save theirs. Tensors the layouts drop (heads, key encoders)
are small stand-ins.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from torch import Tensor

from ssl_kd.engine.checkpoint import save_model
from ssl_kd.errors import DataError
from ssl_kd.models import build_model
from ssl_kd.models.weights import load_weights, plan_weights, read_checkpoint

StateDict = dict[str, Tensor]


@pytest.fixture(scope="module")
def torchvision_resnet50() -> tuple[StateDict, Tensor, Tensor]:
    """``(state_dict, images, features)``: a seeded random ResNet-50, a 64-px batch and its pooled features."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    net = torchvision.models.resnet50(weights=None)
    state = net.state_dict()
    for key, value in state.items():  # BatchNorm statistics and affine parameters away from their initial values
        if key.endswith(("running_mean", "bn1.bias", "bn2.bias", "bn3.bias", "downsample.1.bias")):
            value.copy_(0.1 * torch.randn(value.shape, generator=generator))
        elif key.endswith(("running_var", "bn1.weight", "bn2.weight", "bn3.weight", "downsample.1.weight")):
            value.copy_(1 + 0.1 * torch.rand(value.shape, generator=generator))
    net.load_state_dict(state)
    net.fc = torch.nn.Identity()
    net = net.eval().to(memory_format=torch.channels_last)  # this library's backbones run channels-last
    images = torch.randn(2, 3, 64, 64, generator=generator).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return state, images, net(images)


@pytest.fixture(scope="module")
def shared_resnet50() -> torch.nn.Module:
    """One headless ``resnet50`` for the layout tests (a ResNet-50 takes seconds to build)."""
    return build_model("resnet50", 0)


@pytest.fixture
def poisoned_resnet50(shared_resnet50: torch.nn.Module) -> torch.nn.Module:
    """The shared model with every floating-point tensor set to NaN: a tensor left unloaded shows in the output."""
    with torch.no_grad():
        for value in shared_resnet50.state_dict().values():
            if value.is_floating_point():
                value.fill_(float("nan"))
    return shared_resnet50


def _small() -> Tensor:
    return torch.ones(4, 3)


def _prefixed(prefix: str, state: StateDict, fc: bool = True) -> StateDict:
    return {prefix + key: value for key, value in state.items() if fc or not key.startswith("fc.")}


def moco_v2(state: StateDict) -> object:
    head = {"module.encoder_q.fc.0.weight": _small(), "module.encoder_q.fc.2.weight": _small()}
    keys = {"module.encoder_k.conv1.weight": _small(), "module.queue": _small(), "module.queue_ptr": torch.zeros(1)}
    return {
        "epoch": 800,
        "arch": "resnet50",
        "state_dict": _prefixed("module.encoder_q.", state, fc=False) | head | keys,
    }


def moco_v3(state: StateDict) -> object:
    extra = {
        "module.base_encoder.fc.0.weight": _small(),
        "module.momentum_encoder.conv1.weight": _small(),
        "module.predictor.0.weight": _small(),
    }
    return {"epoch": 300, "state_dict": _prefixed("module.base_encoder.", state, fc=False) | extra}


def swav(state: StateDict) -> object:
    heads = {"module.projection_head.0.weight": _small(), "module.prototypes.weight": _small()}
    return _prefixed("module.", state, fc=False) | heads


def dino(state: StateDict) -> object:
    teacher = _prefixed("module.backbone.", state, fc=False) | {"module.head.mlp.0.weight": _small()}
    student = {"module.backbone.conv1.weight": _small(), "module.head.mlp.0.weight": _small()}
    args = argparse.Namespace(arch="resnet50", out_dim=60000, lr=0.3, local_crops_scale=(0.05, 0.4))
    return {"teacher": teacher, "student": student, "args": args, "epoch": 800}


def barlow_twins(state: StateDict) -> object:
    heads = {"module.projector.0.weight": _small(), "module.bn.running_mean": _small()}
    return {"epoch": 1000, "model": _prefixed("module.backbone.", state, fc=False) | heads, "optimizer": {}}


def solo_learn(state: StateDict) -> object:
    others = {
        "projector.0.weight": _small(),
        "classifier.weight": _small(),
        "momentum_backbone.conv1.weight": _small(),
    }
    return {
        "epoch": 400,
        "global_step": 10,
        "pytorch-lightning_version": "2.0.0",
        "hyper_parameters": {"method": "byol", "backbone": {"name": "resnet50"}},
        "state_dict": _prefixed("backbone.", state, fc=False) | others,
    }


def timm_train(state: StateDict) -> object:
    online = {key: value + 1 for key, value in state.items()}  # the EMA weights are the ones to load
    return {"epoch": 300, "arch": "resnet50", "state_dict": online, "state_dict_ema": dict(state)}


def timm_model_key(state: StateDict) -> object:
    return {"model": dict(state), "epoch": 100}


def torchvision_plain(state: StateDict) -> object:
    return dict(state)


LAYOUTS: dict[str, tuple[Callable[[StateDict], object], str]] = {
    "moco_v2": (moco_v2, "moco_v1_v2"),
    "moco_v3": (moco_v3, "moco_v3"),
    "swav": (swav, "swav"),
    "dino": (dino, "dino"),
    "barlow_twins": (barlow_twins, "barlow_twins"),
    "solo_learn": (solo_learn, "solo_learn"),
    "timm_ema": (timm_train, "timm_ema"),
    "timm_model": (timm_model_key, "plain"),
    "torchvision": (torchvision_plain, "plain"),
}


def _features(model: torch.nn.Module, images: Tensor) -> Tensor:
    with torch.no_grad():
        return model.eval().forward_features(images)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_loads_exactly_what_torchvision_computes(
    layout: str,
    torchvision_resnet50: tuple[StateDict, Tensor, Tensor],
    poisoned_resnet50: torch.nn.Module,
    tmp_path: Path,
) -> None:
    state, images, expected = torchvision_resnet50
    make, name = LAYOUTS[layout]
    path = tmp_path / "checkpoint.pth.tar"
    torch.save(make(state), path)
    model = poisoned_resnet50
    plan = load_weights(model, path)
    assert plan.checkpoint.layout.name == name
    assert len(plan.loaded) == len(state) - 2  # every tensor but fc's weight and bias (a headless model)
    assert (_features(model, images) - expected).abs().max().item() == 0
    assert "loaded 318 tensors into resnet50" in plan.summary()


def test_safetensors_and_this_librarys_model_file_load_exactly(
    torchvision_resnet50: tuple[StateDict, Tensor, Tensor], poisoned_resnet50: torch.nn.Module, tmp_path: Path
) -> None:
    state, images, expected = torchvision_resnet50
    save_file({key: value.contiguous() for key, value in state.items()}, tmp_path / "r50.safetensors")
    model = poisoned_resnet50
    load_weights(model, tmp_path / "r50.safetensors")
    assert (_features(model, images) - expected).abs().max().item() == 0
    save_model(tmp_path / "model.pt", model, model.spec(), dataset="imagenet")
    with torch.no_grad():
        model.blocks.layer4[2].bn3.running_var.fill_(float("nan"))
    assert load_weights(model, tmp_path / "model.pt").checkpoint.layout.name == "ssl_kd"
    assert (_features(model, images) - expected).abs().max().item() == 0


def test_a_classifier_of_another_class_count_is_reinitialised_and_said_so(
    torchvision_resnet50: tuple[StateDict, Tensor, Tensor], tmp_path: Path
) -> None:
    state, images, expected = torchvision_resnet50
    torch.save(state, tmp_path / "r50.pth")
    r18 = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(r18, tmp_path / "r18.pth")
    thousand = build_model("resnet18", 1000)
    assert torch.equal(load_weights(thousand, tmp_path / "r18.pth").loaded["classifier.weight"], r18["fc.weight"])
    model = build_model("resnet50", 10)
    fresh = model.classifier.weight.clone()
    summary = load_weights(model, tmp_path / "r50.pth").summary()
    assert "classifier head of 1000 classes 2" in summary and "reinitialised 2" in summary
    assert torch.equal(model.classifier.weight, fresh)
    assert (_features(model, images) - expected).abs().max().item() == 0


def test_one_renamed_tensor_fails_naming_the_key(
    torchvision_resnet50: tuple[StateDict, Tensor, Tensor], shared_resnet50: torch.nn.Module, tmp_path: Path
) -> None:
    state = dict(torchvision_resnet50[0])
    state["layer3.1.bn2.wieght"] = state.pop("layer3.1.bn2.weight")
    torch.save({"state_dict": _prefixed("module.encoder_q.", state, fc=False)}, tmp_path / "moco.pth.tar")
    with pytest.raises(DataError) as raised:
        load_weights(shared_resnet50, tmp_path / "moco.pth.tar")
    message = str(raised.value)
    assert "\n" not in message
    assert "not in the file: blocks.layer3.1.bn2.weight" in message
    assert "match nothing in resnet50: module.encoder_q.layer3.1.bn2.wieght" in message


def test_a_checkpoint_of_another_arch_names_keys_and_shapes(shared_resnet50: torch.nn.Module, tmp_path: Path) -> None:
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(DataError, match=r"does not fit resnet50: .* shape mismatch\(es\): layer1.0.conv1.weight "):
        load_weights(shared_resnet50, tmp_path / "r18.pth")


def test_weights_key_and_strip_prefix_override_the_detection(tmp_path: Path) -> None:
    source = build_model("resnet18", 0)
    torch.save({"ema": {"net": {f"encoder.{k}": v for k, v in source.state_dict().items()}}}, tmp_path / "own.pt")
    with pytest.raises(DataError, match="unknown checkpoint layout: none of its top-level keys \\(ema\\)"):
        read_checkpoint(tmp_path / "own.pt")
    model = build_model("resnet18", 0)
    plan = load_weights(model, tmp_path / "own.pt", weights_key="ema.net", strip_prefix="encoder.")
    assert plan.checkpoint.layout.name == "custom" and not plan.dropped
    assert all(torch.equal(model.state_dict()[k], v) for k, v in source.state_dict().items())
    with pytest.raises(DataError, match=r"no key 'model' for weights_key='ema.model'; there: net"):
        read_checkpoint(tmp_path / "own.pt", weights_key="ema.model")


class Gadget:
    """A class a checkpoint should never make torch.load import."""


def test_bad_files_fail_in_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"weights file not found: .*none.pth"):
        read_checkpoint(tmp_path / "none.pth")
    good = tmp_path / "good.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:4096])
    with pytest.raises(DataError, match=r"cut.pth: truncated or not a checkpoint"):
        read_checkpoint(tmp_path / "cut.pth")
    torch.save({"state_dict": {"w": torch.ones(1)}, "hook": Gadget()}, tmp_path / "code.pth")
    with pytest.raises(DataError, match=r"would unpickle '[\w.]*Gadget', which can run code, so it is refused"):
        read_checkpoint(tmp_path / "code.pth")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(DataError, match=r"cut.safetensors: not a readable safetensors file"):
        read_checkpoint(tmp_path / "cut.safetensors")
    torch.save({"epoch": 3, "config": {"lr": 0.1}}, tmp_path / "empty.pth")
    with pytest.raises(DataError, match="unknown checkpoint layout"):
        read_checkpoint(tmp_path / "empty.pth")


def test_a_model_file_of_another_arch_says_which(tmp_path: Path) -> None:
    model = build_model("resnet18", 0)
    save_model(tmp_path / "model.pt", model, model.spec())
    plan = plan_weights(read_checkpoint(tmp_path / "model.pt"), build_model("mobilenet_v2", 0))
    assert plan.problems() == [
        "1 file tensor(s) match nothing in mobilenet_v2: model.pt of arch 'resnet18' (as arch 'mobilenet_v2')"
    ]


def test_torchvision_mobilenets_map_onto_the_stage_blocks(tmp_path: Path) -> None:
    for arch, builder in (
        ("mobilenet_v2", torchvision.models.mobilenet_v2),
        ("mobilenet_v3_small", torchvision.models.mobilenet_v3_small),
    ):
        net = builder(weights=None)
        torch.save(net.state_dict(), tmp_path / f"{arch}.pth")
        model = build_model(arch, 1000, small_input=False)
        plan = load_weights(model, tmp_path / f"{arch}.pth")
        assert not plan.reinitialised and len(plan.loaded) == len(net.state_dict())
        images = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            assert torch.allclose(model.eval()(images), net.eval()(images), atol=1e-5)


def test_copy_backbone_between_classifiers_keeps_the_new_head() -> None:
    """``backbone_from`` on an image classifier: every tensor but the classifier comes from the source."""
    from ssl_kd.models.weights import copy_backbone

    torch.manual_seed(0)
    source, target = build_model("mobilenet_v3_small", 10), build_model("mobilenet_v3_small", 4)
    head = {k: v.clone() for k, v in target.classifier.state_dict().items()}
    line = copy_backbone(source, target, "teacher")
    copied = source.state_dict()
    for name, tensor in target.state_dict().items():
        expected = head[name.removeprefix("classifier.")] if name.startswith("classifier.") else copied[name]
        assert torch.equal(tensor, expected), name
    assert "2 head tensor(s) left out" in line
