"""The ``train`` stage kind: trains a registered method with the shared engine and writes its output model."""

from __future__ import annotations

from typing import Any

from ssl_kd.config.schema import TrainStageConfig
from ssl_kd.data import eval_loader, eval_transform, load_splits, train_loader, train_transform
from ssl_kd.engine import Trainer, distributed, resolve_device, seed_everything
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.engine.device import amp_dtype
from ssl_kd.engine.evaluate import top1_accuracy
from ssl_kd.errors import ConfigError
from ssl_kd.methods.base import MethodEnv
from ssl_kd.registry import METHODS
from ssl_kd.stages.base import MODEL_FILE, Stage, register_stage


@register_stage("train")
class TrainStage(Stage):
    """Train ``method`` for ``epochs``; provides ``model`` (the method's output model, e.g. the student).

    Metrics: ``test_top1`` of the output model on the dataset's test split after the last epoch (for models with
    a classifier over the dataset's classes), the final
    epoch's mean training loss, the number of steps and of skipped (undecodable) samples.
    """

    config_class = TrainStageConfig
    provides = ("model",)

    @classmethod
    def config_class_for(cls, raw_stage: dict[str, Any]) -> type[TrainStageConfig]:
        if "method" not in raw_stage:
            raise ConfigError("missing key 'method' (a training method: `ssl-kd list methods`)")
        return METHODS.get(str(raw_stage["method"])).config_class

    def run(self) -> dict[str, Any]:
        cfg: TrainStageConfig = self.cfg
        seed_everything(cfg.engine.seed, cfg.engine.deterministic)
        device = distributed.local_device(resolve_device(cfg.engine.device))
        pin = device.type == "cuda"
        splits = load_splits(cfg.data)
        method_class = METHODS.get(cfg.method)
        env = MethodEnv(splits.num_classes, self.ctx.load_model, len(splits.train), self.ctx.stage_dir)
        method = method_class(cfg, env)
        augment = method_class.train_transform(cfg, splits.mean, splits.std) or train_transform(
            cfg.data.image_size, splits.mean, splits.std, cfg.data.augment
        )
        ranks = {"rank": distributed.rank(), "world_size": distributed.world_size()}
        loader, sampler = train_loader(splits.train, augment, cfg.data, cfg.engine.seed, pin_memory=pin, **ranks)
        plain = eval_transform(cfg.data.image_size, splits.mean, splits.std)
        test_loader = eval_loader(splits.test, plain, cfg.data, pin_memory=pin, **ranks)
        dtype = amp_dtype(cfg.engine.amp, device)

        def evaluate() -> dict[str, float]:
            model = method.output_model()
            if model.num_classes != splits.num_classes:  # a headless (self-supervised) backbone: probe it instead
                return {}
            return {"test_top1": top1_accuracy(model, test_loader, device, dtype)}

        self.ctx.log.info(
            "%s: %d training images, %d classes, %d steps/epoch on %s x %d process(es)",
            cfg.method,
            len(splits.train),
            splits.num_classes,
            sampler.batches_per_epoch,
            device,
            distributed.world_size(),
        )
        trainer = Trainer(
            method,
            cfg,
            loader,
            sampler,
            self.ctx.stage_dir,
            self.ctx.fingerprint,
            device,
            self.ctx.log,
            evaluate,
        )
        metrics = trainer.fit() | evaluate()
        model = method.output_model()
        if not distributed.is_main():
            return metrics
        save_model(
            self.ctx.stage_dir / MODEL_FILE,
            model,
            model.spec(),
            dataset=cfg.data.name,
            image_size=cfg.data.image_size,
            mean=list(splits.mean),
            std=list(splits.std),
            class_names=splits.class_names,
        )
        return metrics
