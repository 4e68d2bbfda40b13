"""The stage interface: a stage kind has a config class, declares what it provides, and runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ssl_kd.config.schema import ModelSpec, StageConfig
from ssl_kd.errors import ConfigError
from ssl_kd.models import BackboneModel, build_model
from ssl_kd.models.saved import MODEL_FILE as MODEL_FILE  # re-exported: the file every model stage writes
from ssl_kd.models.saved import load_saved_model
from ssl_kd.models.weights import backbone_body, copy_backbone, load_weights
from ssl_kd.registry import STAGES


@dataclass
class StageContext:
    """What the scheduler hands a stage: where to write, its fingerprint, and the run's other stages."""

    run_dir: Path
    stage_dir: Path
    fingerprint: str
    log: logging.Logger

    def load_model(self, spec: ModelSpec, num_classes: int | None = None) -> BackboneModel:
        """A new ``spec.arch`` model (with ``spec.weights`` loaded into its backbone, or its backbone copied from
        stage ``spec.backbone_from``), or the model written by stage ``spec.from_`` (on the CPU). Loading weights logs
        one line: tensors loaded, dropped and reinitialised. A model's backbone is
        :func:`~ssl_kd.models.weights.backbone_body`: a detector's without its FPN and head, else the whole model.

        Args:
            spec: the model spec.
            num_classes: classes the caller needs; a loaded model must have that many (None: any).
        """
        if spec.from_ is None:
            model = build_model(spec.arch, num_classes or 0, **spec.options)
            if spec.weights is not None:
                plan = load_weights(backbone_body(model), spec.weights, spec.weights_key, spec.strip_prefix)
                self.log.info("%s", plan.summary())
            if spec.backbone_from is not None:
                source = load_stage_model(self.run_dir / spec.backbone_from)
                self.log.info("%s", copy_backbone(source, model, spec.backbone_from))
            return model
        model = load_stage_model(self.run_dir / spec.from_)
        if spec.arch is not None and model.arch != spec.arch:
            raise ConfigError(
                f"stage {spec.from_!r} made a {model.arch!r} model, but this stage's config expects "
                f"arch {spec.arch!r}; fix the arch or the 'from' stage"
            )
        if num_classes is not None and model.num_classes != num_classes:
            raise ConfigError(
                f"stage {spec.from_!r} made a {model.num_classes}-class model; this stage's data has {num_classes}"
            )
        return model


def load_stage_model(stage_dir: Path) -> BackboneModel:
    """Rebuild and load the output model of a finished stage (:func:`ssl_kd.models.saved.load_saved_model`)."""
    return load_saved_model(stage_dir)[0]


class Stage:
    """Base class of stage kinds. Subclasses set ``config_class`` and ``provides`` and implement ``run``."""

    config_class: ClassVar[type[StageConfig]]
    provides: ClassVar[tuple[str, ...]] = ()
    distributed: ClassVar[bool] = True
    """Whether every torchrun rank runs this stage (sharing the work); False: rank 0 alone."""
    headline_metrics: ClassVar[dict[str, str]] = {}
    """Metric key -> column title of the stage kind's own metrics in the results table (the domains add theirs)."""

    def __init__(self, cfg: StageConfig, ctx: StageContext) -> None:
        self.cfg = cfg
        self.ctx = ctx

    @classmethod
    def config_class_for(cls, raw_stage: dict[str, Any]) -> type[StageConfig]:
        """The schema of a raw stage mapping of this kind."""
        return cls.config_class

    def run(self) -> dict[str, Any]:
        """Do the stage's work inside ``ctx.stage_dir`` and return its metrics."""
        raise NotImplementedError


def register_stage(kind: str) -> Callable[[type[Stage]], type[Stage]]:
    """Register a :class:`Stage` subclass under ``kind`` (the stage's ``kind:`` value)."""
    return STAGES.register(kind)
