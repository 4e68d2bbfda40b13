"""MoCo v2, SimCLR, SEED and ReKD stages: no labels, a few steps lower the loss, clear errors."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from torch import Tensor

from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.methods.base import register_method
from ssl_kd.methods.moco import MoCoConfig, MoCoV2
from ssl_kd.registry import METHODS
from ssl_kd.scheduler import Scheduler

from conftest import write_pipeline

SSL_PIPELINE = {
    "name": "tiny_ssl",
    "defaults": {
        "data": {"name": "digits", "image_size": 16, "batch_size": 20, "train_per_class": 4},
        "engine": {"progress": False, "tensorboard": False, "log_every": 1},
        "optim": {"lr": 0.05, "weight_decay": 0.0},
        "views": {"elastic_p": 0.0},
        "queue_size": 4096,  # mostly the initial random keys: a stable target for "the loss goes down"
        "momentum": 0.9,
    },
    "stages": [
        {"name": "teacher_ssl", "method": "moco_v2", "model": {"arch": "resnet18"}, "epochs": 1},
    ],
}

STUDENTS = {
    "moco": {"method": "moco_v2", "model": {"arch": "alexnet"}},
    "simclr": {"method": "simclr", "model": {"arch": "alexnet"}},
    "seed": {"method": "seed", "student": {"arch": "alexnet"}, "teacher": {"from": "teacher_ssl"}},
    "rekd": {"method": "rekd", "student": {"arch": "alexnet"}, "teacher": {"from": "teacher_ssl"}},
    "rekd_offline_topk": {
        "method": "rekd",
        "student": {"arch": "alexnet"},
        "teacher": {"from": "teacher_ssl"},
        "teacher_mode": "offline",
        "miner": "topk",
    },
    "rekd_kl_queue": {
        "method": "rekd",
        "student": {"arch": "alexnet"},
        "teacher": {"from": "teacher_ssl"},
        "relation_loss": "kl",
    },
    "rekd_kl_prototypes": {
        "method": "rekd",
        "student": {"arch": "alexnet"},
        "teacher": {"from": "teacher_ssl"},
        "relation_loss": "kl",
        "relation_bank": "prototypes",
        "teacher_mode": "offline",
    },
}


@pytest.fixture(scope="module")
def ssl_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every self-supervised student trained 5 epochs of 2 steps on 40 digits, after a 1-epoch MoCo teacher."""
    raw = copy.deepcopy(SSL_PIPELINE)
    raw["stages"] += [{"name": name, "epochs": 5, **stage} for name, stage in STUDENTS.items()]
    root = tmp_path_factory.mktemp("ssl")
    Scheduler(load_pipeline(write_pipeline(root / "ssl.yaml", raw)), root / "run").run()
    return root / "run"


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_a_few_steps_lower_the_loss(ssl_run: Path, name: str) -> None:
    history = json.loads((ssl_run / name / "history.json").read_text())
    assert history[-1]["loss"] < history[0]["loss"], [h["loss"] for h in history]
    assert "test_top1" not in json.loads((ssl_run / name / "metrics.json").read_text())


def test_rekd_logs_its_named_terms(ssl_run: Path) -> None:
    online = json.loads((ssl_run / "rekd" / "history.json").read_text())[0]
    assert {"info_nce", "relation", "teacher_info_nce"} <= set(online)
    offline = json.loads((ssl_run / "rekd_offline_topk" / "history.json").read_text())[0]
    assert "teacher_info_nce" not in offline


class SpyConfig(MoCoConfig):
    method: Literal["moco_spy_test"] = "moco_spy_test"


class Spy(MoCoV2):
    """MoCo v2 that records the labels the engine hands it."""

    config_class = SpyConfig
    seen: ClassVar[list[object]] = []

    def training_step(self, images: list[Tensor], labels: None) -> dict[str, Tensor]:
        self.seen.append(labels)
        return super().training_step(images, labels)


if "moco_spy_test" not in METHODS:
    register_method("moco_spy_test")(Spy)


def test_self_supervised_methods_never_receive_labels(tmp_path: Path) -> None:
    raw = copy.deepcopy(SSL_PIPELINE)
    raw["stages"][0]["method"] = "moco_spy_test"
    Scheduler(load_pipeline(write_pipeline(tmp_path / "spy.yaml", raw)), tmp_path / "run").run()
    assert Spy.seen and all(labels is None for labels in Spy.seen)


def test_teacher_architecture_mismatch_names_both(ssl_run: Path, tmp_path: Path) -> None:
    raw = copy.deepcopy(SSL_PIPELINE)
    raw["stages"].append(
        {"name": "rekd", "epochs": 1, **STUDENTS["rekd"], "teacher": {"from": "teacher_ssl", "arch": "resnet50"}}
    )
    shutil.copytree(ssl_run / "teacher_ssl", tmp_path / "run" / "teacher_ssl")  # complete: it is skipped
    pipeline = load_pipeline(write_pipeline(tmp_path / "mismatch.yaml", raw))
    with pytest.raises(ConfigError, match=r"made a 'resnet18' model, but .* expects arch 'resnet50'"):
        Scheduler(pipeline, tmp_path / "run").run()
