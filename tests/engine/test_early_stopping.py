"""Early stopping: stop after ``patience`` validations without improvement, restore the best state, resume exactly.

The validation of a tiny link-prediction stage is replaced by a scripted sequence, so the best epoch and the stopping
epoch are known in advance; the restored model must equal the one a run of exactly ``best_epoch`` epochs makes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.models.saved import load_saved_model
from ssl_kd.registry import DOMAINS
from ssl_kd.scheduler import Scheduler

from conftest import write_pipeline

SCRIPT = [0.10, 0.30, 0.20, 0.25, 0.29, 0.50, 0.60]  # best 0.30 at epoch 2; patience 3 stops at epoch 5
PIPELINE = {
    "name": "stopping",
    "defaults": {
        "data": {"name": "nations", "batch_size": 400},
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 1, "log_every": 1, "device": "cpu"},
        "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0, "schedule": "constant"},
        "num_negatives": 4,
    },
    "stages": [
        {
            "name": "kge",
            "method": "kge",
            "model": {"arch": "transe", "options": {"dim": 8}},
            "epochs": 7,
            "early_stopping": {"metric": "val_mrr", "patience": 3},
        }
    ],
}


@pytest.fixture
def scripted_validation(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make the link-prediction validation return ``SCRIPT`` in turn; yields the values handed out so far."""
    served: list[float] = []
    values: Iterator[float] = iter(SCRIPT)

    def validator(data, cfg, method, placement):
        def validate() -> dict[str, float]:
            served.append(next(values))
            return {"val_mrr": served[-1], "val_hits_at_10": 0.0}

        return validate

    monkeypatch.setattr(DOMAINS.get("link_prediction"), "validator", validator)
    return served


def _run(tmp_path: Path, name: str, **stage_changes) -> tuple[Path, dict]:
    raw = copy.deepcopy(PIPELINE)
    raw["stages"][0] |= stage_changes
    path = write_pipeline(tmp_path / f"{name}.yaml", raw)
    outcomes = Scheduler(load_pipeline(path), tmp_path / name).run()
    return tmp_path / name / "kge", outcomes[0].metrics


def test_stops_after_patience_and_keeps_the_best_state(scripted_validation: list[float], tmp_path: Path) -> None:
    stage_dir, metrics = _run(tmp_path, "stopped")
    assert scripted_validation == SCRIPT[:5]  # validated after epochs 1..5, then stopped
    assert (metrics["best_epoch"], metrics["stopped_epoch"], metrics["best_val_mrr"]) == (2, 5, 0.30)
    history = json.loads((stage_dir / "history.json").read_text())
    assert metrics["steps"] == history[-1]["step"] == 5 * history[0]["step"]
    assert [record["val_mrr"] for record in history] == SCRIPT[:5]

    two_epochs, _ = _run(tmp_path, "two_epochs", epochs=2, early_stopping=None)
    best, _ = load_saved_model(stage_dir)
    reference, _ = load_saved_model(two_epochs)
    assert torch.equal(best.entity.weight, reference.entity.weight)
    assert torch.equal(best.relation.weight, reference.relation.weight)


def test_an_interrupted_stage_resumes_to_the_same_stop(
    scripted_validation: list[float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole_dir, whole = _run(tmp_path, "whole")
    scripted_validation.clear()

    from ssl_kd.engine import trainer

    calls = {"n": 0}
    original = trainer.Trainer._end_epoch

    def interrupt_after_three_epochs(self, epoch, writer, seconds):
        original(self, epoch, writer, seconds)
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    values = iter(SCRIPT)
    monkeypatch.setattr(
        DOMAINS.get("link_prediction"),
        "validator",
        lambda *args: lambda: {"val_mrr": next(values), "val_hits_at_10": 0.0},
    )
    monkeypatch.setattr(trainer.Trainer, "_end_epoch", interrupt_after_three_epochs)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "resumed")
    monkeypatch.setattr(trainer.Trainer, "_end_epoch", original)
    values = iter(SCRIPT[3:])  # the run goes on from epoch 4
    resumed_dir, resumed = _run(tmp_path, "resumed")
    assert {key: resumed[key] for key in ("best_epoch", "stopped_epoch", "best_val_mrr", "steps")} == {
        key: whole[key] for key in ("best_epoch", "stopped_epoch", "best_val_mrr", "steps")
    }
    assert torch.equal(load_saved_model(resumed_dir)[0].entity.weight, load_saved_model(whole_dir)[0].entity.weight)


def test_the_kg_validation_ranks_the_validation_triples(tmp_path: Path) -> None:
    _, metrics = _run(tmp_path, "real", epochs=2, early_stopping={"metric": "val_mrr", "patience": 5})
    assert 0 < metrics["best_val_mrr"] <= 1 and metrics["best_epoch"] in (1, 2) and metrics["stopped_epoch"] == 2


def test_an_unknown_validation_metric_names_the_ones_there_are(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'val_accuracy' is not a validation metric.*val_hits_at_10.*val_mrr"):
        _run(tmp_path, "unknown", epochs=1, early_stopping={"metric": "val_accuracy"})
