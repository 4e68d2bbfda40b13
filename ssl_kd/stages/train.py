"""The ``train`` stage kind: trains a registered method with the shared engine and writes its output model.

:func:`build_training` assembles a training for any domain (data, method, loader, trainer, evaluation); the stage
and the benchmarks share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ssl_kd.config.schema import TrainStageConfig
from ssl_kd.engine import Trainer, distributed, resolve_device, seed_everything
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.engine.device import amp_dtype
from ssl_kd.engine.domain import Domain, DomainData, Evaluate, Placement
from ssl_kd.engine.method import MethodEnv, TrainableMethod
from ssl_kd.errors import ConfigError
from ssl_kd.registry import DATASETS, DOMAINS, METHODS
from ssl_kd.stages.base import MODEL_FILE, Stage, StageContext, register_stage


@dataclass
class Training:
    """Everything one training stage runs: its domain and data, the method, the trainer and the evaluation."""

    domain: Domain
    data: DomainData
    method: TrainableMethod
    trainer: Trainer
    evaluate: Evaluate
    placement: Placement


def build_training(cfg: TrainStageConfig, ctx: StageContext, monitor: Evaluate | None = None) -> Training:
    """Seed, place, load the data through its domain, build the method and its loader, and the trainer.

    Args:
        cfg: the training stage's config.
        ctx: where the stage writes and how it loads earlier stages' models.
        monitor: the per-epoch callback of the trainer (default: the domain's test evaluation, every
            ``engine.eval_every`` epochs).
    """
    seed_everything(cfg.engine.seed, cfg.engine.deterministic)
    device = distributed.local_device(resolve_device(cfg.engine.device))
    placement = Placement(device, amp_dtype(cfg.engine.amp, device), distributed.rank(), distributed.world_size())
    domain: Domain = DOMAINS.get(DATASETS.get(cfg.data.name).domain)
    data = domain.load(cfg)
    method_class = METHODS.get(cfg.method)
    env = MethodEnv(data.facts, ctx.load_model, data.num_train_samples, ctx.stage_dir, data.splits)
    method = method_class(cfg, env)
    loader, sampler = domain.train_loader(data, cfg, method_class, placement)
    evaluate = domain.evaluator(data, cfg, method, placement)
    validate = domain.validator(data, cfg, method, placement) if cfg.early_stopping is not None else None
    if cfg.early_stopping is not None and validate is None:
        raise ConfigError(
            f"stage {cfg.name!r}: early_stopping needs a validation split; {domain.name} dataset {cfg.data.name!r} "
            "has none"
        )
    ctx.log.info(
        "%s: %s, %d steps/epoch on %s x %d process(es)",
        cfg.method,
        domain.describe(data),
        sampler.batches_per_epoch,
        device,
        placement.world_size,
    )
    trainer = Trainer(
        method, cfg, loader, sampler, ctx.stage_dir, ctx.fingerprint, device, ctx.log, monitor or evaluate, validate
    )
    return Training(domain, data, method, trainer, evaluate, placement)


@register_stage("train")
class TrainStage(Stage):
    """Train ``method`` for ``epochs``; provides ``model`` (the method's output model, e.g. the student).

    After ``model.pt``, the method may add its own files to the stage folder (``TrainableMethod.write_outputs``).

    Metrics: the domain's test metrics of the output model after the last epoch (e.g. ``test_top1`` for
    classifiers, filtered MRR and Hits@k for KG embeddings), the final epoch's mean training loss, the number of
    steps and of skipped (unreadable) samples.
    """

    config_class = TrainStageConfig
    provides = ("model",)
    headline_metrics: ClassVar[dict[str, str]] = {"skipped_samples": "skipped"}

    @classmethod
    def config_class_for(cls, raw_stage: dict[str, Any]) -> type[TrainStageConfig]:
        if "method" not in raw_stage:
            raise ConfigError("missing key 'method' (a training method: `ssl-kd list methods`)")
        return METHODS.get(str(raw_stage["method"])).config_class

    def run(self) -> dict[str, Any]:
        training = build_training(self.cfg, self.ctx)
        metrics = training.trainer.fit() | training.evaluate()
        if not distributed.is_main():
            return metrics
        model = training.method.output_model()
        metadata = training.domain.model_metadata(training.data, self.cfg)
        save_model(self.ctx.stage_dir / MODEL_FILE, model, model.spec(), **metadata)
        training.method.write_outputs(self.ctx.stage_dir)
        return metrics
