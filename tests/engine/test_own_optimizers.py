"""Methods may train parameter sets under their own optimiser: scheduled, clipped, stepped and checkpointed apart.

A KGE method whose relation embeddings train under SGD with their own learning rate, beside the stage's AdamW.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal

import pytest
import torch

from ssl_kd.config import load_pipeline
from ssl_kd.config.schema import OptimConfig
from ssl_kd.engine import seed_everything, trainer
from ssl_kd.engine.checkpoint import load_checkpoint
from ssl_kd.engine.method import MethodEnv, OwnOptimizer, register_method
from ssl_kd.kg.domain import KGFacts
from ssl_kd.kg.methods.kge import KGE, KGEConfig
from ssl_kd.models.saved import load_saved_model
from ssl_kd.registry import METHODS
from ssl_kd.scheduler import Scheduler

from conftest import write_pipeline


class RelationsApartConfig(KGEConfig):
    method: Literal["relations_apart_test"] = "relations_apart_test"
    relation_lr: float = 1e-3


class RelationsApart(KGE):
    """KGE whose relation embeddings train under plain SGD at ``relation_lr``, apart from the stage's optimiser."""

    config_class = RelationsApartConfig

    def own_optimizers(self) -> dict[str, OwnOptimizer]:
        optim = OptimConfig(name="sgd", lr=self.cfg.relation_lr, momentum=0.0, weight_decay=0.0, schedule="constant")
        return {"relations": OwnOptimizer(list(self.model.relation.parameters()), optim, grad_clip=1e-3)}


if "relations_apart_test" not in METHODS:
    register_method("relations_apart_test")(RelationsApart)

PIPELINE = {
    "name": "own",
    "defaults": {
        "data": {"name": "nations", "batch_size": 400},
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 1, "log_every": 1, "device": "cpu"},
        "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0, "schedule": "constant"},
        "num_negatives": 4,
    },
    "stages": [{"name": "kge", "method": "relations_apart_test", "model": {"arch": "transe", "options": {"dim": 8}}}],
}


def _run(tmp_path: Path, name: str, epochs: int = 3, **changes) -> Path:
    raw = copy.deepcopy(PIPELINE)
    raw["stages"][0] |= {"epochs": epochs, **changes}
    Scheduler(load_pipeline(write_pipeline(tmp_path / f"{name}.yaml", raw)), tmp_path / name).run()
    return tmp_path / name / "kge"


def test_each_set_follows_its_own_optimiser(tmp_path: Path) -> None:
    seed_everything(0, False)  # as the stage does before building its method: the same initial embeddings
    initial = RelationsApart(load_pipeline(write_pipeline(tmp_path / "p.yaml", PIPELINE)).stage("kge"), _env())
    stage = _run(tmp_path, "run", epochs=1)
    model, _ = load_saved_model(stage)
    state = load_checkpoint(stage / "checkpoints" / "last.pt")
    steps = state["step"]
    # SGD at lr 1e-3 with gradients clipped to norm 1e-3 moves each step by at most 1e-6 in norm
    moved = (model.relation.weight - initial.model.relation.weight).norm()
    assert 0 < moved <= steps * 1e-6 * (1 + 1e-4)
    assert (model.entity.weight - initial.model.entity.weight).norm() > 100 * moved  # AdamW at lr 0.01
    own = state["own_optimizers"]["relations"]
    assert own["param_groups"][0]["lr"] == 1e-3 and not own["state"]  # plain SGD keeps no momentum state
    assert len(state["optimizer"]["state"]) == 1  # the main AdamW holds the entity embeddings only


def _env() -> MethodEnv:
    return MethodEnv(KGFacts(14, 55, "nations"), lambda spec: None)


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, _ = load_saved_model(_run(tmp_path, "whole", relation_lr=0.05, optim={"name": "sgd", "lr": 0.05}))
    original = trainer.Trainer._end_epoch
    calls = {"n": 0}

    def interrupt_after_one_epoch(self, epoch, writer, seconds):
        original(self, epoch, writer, seconds)
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.Trainer, "_end_epoch", interrupt_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "resumed", relation_lr=0.05, optim={"name": "sgd", "lr": 0.05})
    monkeypatch.setattr(trainer.Trainer, "_end_epoch", original)
    resumed, _ = load_saved_model(_run(tmp_path, "resumed", relation_lr=0.05, optim={"name": "sgd", "lr": 0.05}))
    assert calls["n"] == 1
    assert torch.equal(resumed.relation.weight, whole.relation.weight)
    assert torch.equal(resumed.entity.weight, whole.entity.weight)
