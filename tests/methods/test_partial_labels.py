"""Partly labelled training data (``data.labelled_per_class``) end to end: a tiny digits run of the methods that
use unlabelled samples, on every training image with three labels per class."""

from __future__ import annotations

import copy
import math
from pathlib import Path

from kd_helpers import TINY_CNN

from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import Scheduler

from conftest import TINY_PIPELINE, write_pipeline


def test_supervised_and_kd_train_on_every_image_with_few_labels(tmp_path: Path) -> None:
    raw = copy.deepcopy(TINY_PIPELINE)
    raw["stages"] = [
        {"name": "teacher", "kind": "train", "method": "supervised", "model": TINY_CNN, "epochs": 1},
        {"name": "alone", "kind": "train", "method": "supervised", "model": TINY_CNN, "epochs": 1},
        {
            "name": "kd",
            "kind": "train",
            "method": "hinton_kd",
            "student": TINY_CNN,
            "teacher": {"from": "teacher"},
            "epochs": 1,
        },
    ]
    raw["defaults"]["data"].pop("train_per_class")
    raw["stages"][0]["data"] = {"train_per_class": 3}
    for stage in raw["stages"][1:]:
        stage["data"] = {"labelled_per_class": 3, "batch_size": 256}
    outcomes = Scheduler(load_pipeline(write_pipeline(tmp_path / "p.yaml", raw)), tmp_path / "run").run()
    metrics = {outcome.name: outcome.metrics for outcome in outcomes}
    assert metrics["teacher"]["steps"] == 3  # 30 labelled images in batches of 10
    for name in ("alone", "kd"):
        assert metrics[name]["steps"] == 1437 // 256  # every training image, labelled or not
        assert math.isfinite(metrics[name]["train_loss"])
