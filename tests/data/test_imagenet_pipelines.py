"""The two ImageNet pipelines as shipped, run tiny on a generated 224-px ImageNet folder through overrides only.

Teachers are a seeded random torchvision ResNet-50 saved in MoCo v2's layout (ReKD) and as torchvision's plain
state dict (Hinton KD), the files a user brings.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torchvision
from imagenet_folder import make_imagenet_folder

from ssl_kd.config import load_pipeline
from ssl_kd.errors import DataError
from ssl_kd.scheduler import Scheduler

from conftest import REPO

TINY = ["data.batch_size=4", "data.eval_batch_size=6", "engine.progress=false", "engine.tensorboard=false"]
TINY += ["engine.device=cpu", "data.num_workers=0"]  # workers: tests/data/test_imagenet.py


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """``(folder, moco_v2_file, torchvision_file)``."""
    root = tmp_path_factory.mktemp("imagenet")
    torch.manual_seed(0)
    state = torchvision.models.resnet50(weights=None).state_dict()
    moco = {f"module.encoder_q.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    moco |= {"module.encoder_q.fc.0.weight": torch.ones(4, 4), "module.queue": torch.ones(4, 4)}
    torch.save({"epoch": 800, "arch": "resnet50", "state_dict": moco}, root / "moco_v2_800ep_pretrain.pth.tar")
    torch.save(state, root / "resnet50.pth")
    folder = make_imagenet_folder(root / "data", train_per_class=4, val_per_class=2)
    return folder, root / "moco_v2_800ep_pretrain.pth.tar", root / "resnet50.pth"


@pytest.mark.parametrize("name", ["rekd_imagenet", "kd_imagenet"])
def test_the_shipped_pipelines_validate_with_only_the_paths_set(name: str, imagenet: tuple[Path, Path, Path]) -> None:
    folder, moco, plain = imagenet
    weights = moco if name == "rekd_imagenet" else plain
    pipeline = load_pipeline(REPO / "pipelines" / f"{name}.yaml", [f"data.root={folder}", f"teacher.weights={weights}"])
    teacher = pipeline.stages[0].teacher
    assert teacher.arch == "resnet50" and teacher.weights == weights
    assert pipeline.stages[0].data.image_size == 224 and pipeline.stages[0].data.name == "imagenet"


def test_rekd_imagenet_runs_tiny_and_reports_a_row_per_conv_layer(
    imagenet: tuple[Path, Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, moco, _ = imagenet
    overrides = [f"data.root={folder}", f"teacher.weights={moco}", *TINY, "rekd.epochs=1", "rekd.queue_size=8"]
    overrides += ["rekd.num_prototypes=3", "probe.layer_probe.epochs=1", "probe.layer_probe.milestones=[]"]
    overrides += ["rekd.student.options={fc_dim: 64}"]  # AlexNet's 4096-wide fc6/fc7 make 0.7 GB checkpoints
    pipeline = load_pipeline(REPO / "pipelines" / "rekd_imagenet.yaml", overrides)
    with caplog.at_level(logging.INFO, logger="ssl_kd"):
        results = {outcome.name: outcome.metrics for outcome in Scheduler(pipeline, tmp_path / "run").run()}
    assert f"weights {moco} (moco_v1_v2, state_dict): loaded 318 tensors into resnet50" in caplog.text
    probe = results["probe"]
    for layer in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        assert 0 <= probe[f"{layer}_linear_top1"] <= probe[f"{layer}_linear_top5"] == 1.0  # 3 classes: top-5 is all


def test_kd_imagenet_runs_tiny_with_the_teachers_head_replaced_and_said_so(
    imagenet: tuple[Path, Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder, _, plain = imagenet
    overrides = [f"data.root={folder}", f"teacher.weights={plain}", *TINY, "distill.epochs=1"]
    pipeline = load_pipeline(REPO / "pipelines" / "kd_imagenet.yaml", overrides)
    with caplog.at_level(logging.INFO, logger="ssl_kd"):
        results = {outcome.name: outcome.metrics for outcome in Scheduler(pipeline, tmp_path / "run").run()}
    assert "dropped 2 (classifier head of 1000 classes 2); reinitialised 2 (classifier head of 3 classes" in caplog.text
    assert 0 <= results["distill"]["test_top1"] <= 1


def test_a_truncated_teacher_file_stops_the_stage_in_one_line(
    imagenet: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    folder, _, plain = imagenet
    cut = tmp_path / "cut.pth"
    cut.write_bytes(plain.read_bytes()[: 1 << 20])
    overrides = [f"data.root={folder}", f"teacher.weights={cut}", *TINY, "distill.epochs=1"]
    pipeline = load_pipeline(REPO / "pipelines" / "kd_imagenet.yaml", overrides)
    with pytest.raises(DataError, match=r"cut.pth: truncated or not a checkpoint"):
        Scheduler(pipeline, tmp_path / "run").run()
