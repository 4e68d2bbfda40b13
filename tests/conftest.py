"""Shared fixtures: tiny pipelines on a few digits per class, fast enough for the timed suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

TINY_PIPELINE = {
    "name": "tiny",
    "defaults": {
        "data": {"name": "digits", "batch_size": 10, "train_per_class": 3, "eval_batch_size": 500},
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 2, "log_every": 1},
        "optim": {"lr": 0.05},
    },
    "stages": [
        {
            "name": "teacher",
            "kind": "train",
            "method": "supervised",
            "model": {"arch": "resnet18", "options": {"stem": "imagenet"}},
            "epochs": 2,
        },
        {
            "name": "distill",
            "kind": "train",
            "method": "hinton_kd",
            "student": {"arch": "mobilenet_v3_small"},
            "teacher": {"from": "teacher"},
            "epochs": 2,
        },
        {
            "name": "probe",
            "kind": "probe",
            "model": {"from": "distill"},
            "shots": [1, 2],
            "draws": 2,
        },
    ],
}


def write_pipeline(path: Path, pipeline: dict) -> Path:
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path


@pytest.fixture
def tiny_pipeline(tmp_path: Path) -> Path:
    """A three-stage teacher -> KD -> probe pipeline that runs in seconds."""
    return write_pipeline(tmp_path / "tiny.yaml", TINY_PIPELINE)
