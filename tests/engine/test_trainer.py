"""The NaN/inf guard stops a stage with a clear message and keeps the last good checkpoint."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Literal

import pytest
import torch
from torch import Tensor

from ssl_kd.cli import main
from ssl_kd.config import load_pipeline
from ssl_kd.engine.checkpoint import load_checkpoint
from ssl_kd.errors import TrainingDiverged
from ssl_kd.methods.base import register_method
from ssl_kd.methods.supervised import Supervised, SupervisedConfig
from ssl_kd.registry import METHODS
from ssl_kd.scheduler import Scheduler

from conftest import TINY_PIPELINE, write_pipeline


class ExplodingConfig(SupervisedConfig):
    method: Literal["exploding_test"] = "exploding_test"
    explode_after: int = 5


class Exploding(Supervised):
    """Supervised training whose loss turns NaN after ``explode_after`` steps."""

    config_class = ExplodingConfig

    def __init__(self, cfg: ExplodingConfig, env) -> None:
        super().__init__(cfg, env)
        self.calls = 0

    def training_step(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        self.calls += 1
        terms = super().training_step(images, labels)
        if self.calls > self.cfg.explode_after:
            terms["ce"] = terms["ce"] * float("nan")
        return terms


if "exploding_test" not in METHODS:
    register_method("exploding_test")(Exploding)


def _exploding_pipeline(tmp_path: Path) -> Path:
    raw = copy.deepcopy(TINY_PIPELINE)
    raw["stages"] = [
        {
            "name": "boom",
            "method": "exploding_test",
            "model": {"arch": "mobilenet_v3_small"},
            "epochs": 3,
        }
    ]
    return write_pipeline(tmp_path / "boom.yaml", raw)


def test_nan_loss_stops_stage_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    pipeline = load_pipeline(_exploding_pipeline(tmp_path))
    with pytest.raises(TrainingDiverged, match=r"non-finite .* last good checkpoint \(step 4\)"):
        Scheduler(pipeline, tmp_path / "run").run()
    checkpoint = load_checkpoint(tmp_path / "run" / "boom" / "checkpoints" / "last.pt")
    assert checkpoint["step"] == 4
    assert all(torch.isfinite(v).all() for v in checkpoint["method"].values() if v.is_floating_point())
    state = json.loads((tmp_path / "run" / "boom" / "state.json").read_text())
    assert state["status"] == "running"


def test_cli_reports_divergence_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["run", str(_exploding_pipeline(tmp_path)), "--run-dir", str(tmp_path / "run"), "-q"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ssl-kd: error: stage 'boom': loss became non-finite")
    assert not any("Traceback" in line for line in err)
