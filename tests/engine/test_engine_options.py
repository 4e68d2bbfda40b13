"""Engine switches in a real tiny stage: bf16 autocast, grad clipping, channels_last, TensorBoard, eval_every."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from ssl_kd.config import load_pipeline
from ssl_kd.engine.device import amp_dtype
from ssl_kd.scheduler import Scheduler

from conftest import TINY_PIPELINE, write_pipeline


def test_bf16_clipping_channels_last_tensorboard_and_per_epoch_eval(tmp_path: Path) -> None:
    raw = copy.deepcopy(TINY_PIPELINE)
    raw["stages"] = [{"name": "fast", "method": "supervised", "model": {"arch": "mobilenet_v3_small"}, "epochs": 2}]
    engine = {"amp": "bf16", "grad_clip": 1.0, "channels_last": True, "tensorboard": True, "eval_every": 1}
    raw["defaults"]["engine"] |= engine
    Scheduler(load_pipeline(write_pipeline(tmp_path / "p.yaml", raw)), tmp_path / "run").run()
    stage = tmp_path / "run" / "fast"
    history = json.loads((stage / "history.json").read_text())
    assert [record["epoch"] for record in history] == [1, 2]
    assert all(0.0 <= record["test_top1"] <= 1.0 and math.isfinite(record["loss"]) for record in history)
    assert list((stage / "tb").glob("events.out.tfevents.*"))


def test_amp_auto_is_bf16_on_cpu() -> None:
    import torch

    assert amp_dtype("auto", torch.device("cpu")) is torch.bfloat16
    assert amp_dtype("off", torch.device("cpu")) is None
