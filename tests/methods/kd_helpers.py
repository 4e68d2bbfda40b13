"""Helpers for the KD method tests: tiny models, a fixed-batch training loop and a tiny pipeline runner."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from ssl_kd.config import load_pipeline
from ssl_kd.config.schema import ModelSpec
from ssl_kd.data.domain import ClassificationFacts
from ssl_kd.methods.base import Method, MethodEnv
from ssl_kd.models import BackboneModel, build_model
from ssl_kd.registry import METHODS
from ssl_kd.scheduler import Scheduler

from conftest import TINY_PIPELINE, write_pipeline

TINY_CNN = {"arch": "alexnet", "options": {"width": 0.25, "fc_dim": 32}}
TINY_VIT = {"arch": "vit", "options": {"dim": 16, "depth": 2, "heads": 2, "patch_size": 8}}


def tiny_env(teacher: BackboneModel | None = None) -> MethodEnv:
    """A MethodEnv building fresh models; ``{from: ...}`` specs return ``teacher``."""

    def load(spec: ModelSpec, num_classes: int) -> BackboneModel:
        if spec.from_ is not None:
            return copy.deepcopy(teacher)
        return build_model(spec.arch, num_classes, **spec.options)

    return MethodEnv(facts=classification_facts(10), load_model=load, num_train_samples=16)


def build_method(raw: dict[str, Any], teacher: BackboneModel | None = None) -> Method:
    """Validate ``raw`` with the method's config class and build it on tiny models."""
    cls = METHODS.get(raw["method"])
    torch.manual_seed(0)
    return cls(cls.config_class.model_validate({"name": "m", "kind": "train", **raw}), tiny_env(teacher))


def fit_fixed_batch(method: Method, steps: int = 8, lr: float = 0.05) -> list[float]:
    """Total loss per step of SGD on one fixed batch (what the engine does, minus the bookkeeping)."""
    torch.manual_seed(1)
    images, labels = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    params = [p for _, p in method.trainable_named_parameters()]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    method.train()
    losses = []
    for step in range(steps):
        loss = torch.stack(list(method.training_step(images, labels).values())).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        method.on_step_end(step)
        losses.append(loss.item())
    return losses


def run_tiny(tmp_path: Path, stages: list[dict[str, Any]], epochs: int = 2) -> dict[str, dict[str, Any]]:
    """Run a tiny digits pipeline (3 images per class) with ``stages``; return ``{stage: metrics}``."""
    raw = copy.deepcopy(TINY_PIPELINE)
    raw["stages"] = [{"kind": "train", "epochs": epochs, **stage} for stage in stages]
    pipeline = load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))
    return {outcome.name: outcome.metrics for outcome in Scheduler(pipeline, tmp_path / "run").run()}


def batch(size: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random image batch with labels 0..size-1."""
    torch.manual_seed(2)
    return torch.randn(size, 3, 32, 32), torch.arange(size) % 10


def classification_facts(num_classes: int) -> ClassificationFacts:
    """The facts of a classification dataset with ``num_classes`` classes named by their index."""
    return ClassificationFacts(num_classes, [str(c) for c in range(num_classes)], image_size=32)
