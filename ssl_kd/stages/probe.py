"""The ``probe`` stage kind: linear probes (full-label and low-shot) and kNN on frozen, cached features.

Features of the train and test splits are extracted once, unaugmented, and cached in ``features/`` as
``<tap>_<split>.npz``; every probe then runs on the cache (docs/methods/probes.md). Hyper-parameters are chosen on a
split of the training data, never on test. With ``raw_pixels: true`` the same protocol runs on the normalised pixels as
a floor: on digits, full-label probes saturate near 0.98 even for random features, so the low-shot probes are the
figures that tell representations apart.

Under ``torchrun`` each rank extracts the features of its shard of the data; rank 0 gathers them, writes the
cache and runs the probes (they are cheap next to extraction); the scheduler broadcasts its metrics.

``protocol: alexnet_conv`` runs the self-supervised AlexNet protocol instead (docs/methods/alexnet_linear.md):
one BatchNorm-then-linear head per ``conv1`` .. ``conv5`` tap, trained by SGD on augmented images through the
frozen trunk (``layer_probe`` sets the schedule), reported as ``conv<k>_linear_top1`` / ``_top5`` with a table row
per layer. It runs in one process (rank 0 under ``torchrun``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator
from rich.console import Console
from rich.table import Table

from ssl_kd.config.schema import DataConfig, EngineConfig, ModelSpec, StageConfig, Strict
from ssl_kd.data import eval_loader, eval_transform, load_splits, train_loader
from ssl_kd.data.transforms import resize_crop_transform
from ssl_kd.engine import distributed, resolve_device, seed_everything
from ssl_kd.evaluation.features import extract_features, load_features, save_features
from ssl_kd.evaluation.layer_probe import ALEXNET_GRIDS, LayerProbeSettings, train_layer_probes
from ssl_kd.evaluation.protocol import ProbeProtocol, evaluate_features
from ssl_kd.stages.base import Stage, register_stage

RAW_PIXELS = "raw_pixels"
FROZEN_FEATURES = "frozen_features"
ALEXNET_CONV = "alexnet_conv"


class LayerProbeConfig(Strict):
    """Training of the per-layer heads of ``protocol: alexnet_conv`` (defaults: the published schedule)."""

    epochs: int = Field(28, ge=1)
    lr: float = Field(0.01, gt=0, description="SGD learning rate per 256 images (scaled with data.batch_size)")
    milestones: list[int] = Field(default_factory=lambda: [8, 16, 24], description="epochs where lr decays")
    gamma: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)


class ProbeStageConfig(StageConfig):
    """``kind: probe``: evaluate a frozen model's features. Defaults: the digits presets of docs/methods/probes.md."""

    kind: Literal["probe"] = "probe"
    model: ModelSpec = Field(description="the model to probe, normally {from: STAGE}")
    data: DataConfig = Field(default_factory=lambda: DataConfig(augment="none"))
    engine: EngineConfig = Field(default_factory=EngineConfig)
    taps: list[str] = Field(
        default_factory=lambda: ["features"],
        description="layers to probe; [all] = every block of the model plus its penultimate features",
    )
    pool_size: int = Field(1, ge=1, description="feature maps are average-pooled to pool_size x pool_size")
    shots: list[int] = Field(default_factory=lambda: [1, 5, 10], description="labelled images per class")
    draws: int = Field(5, ge=1, description="random k-shot draws averaged per shot count")
    knn_k: int = Field(20, ge=1)
    knn_temperature: float = Field(0.07, gt=0)
    knn_backend: Literal["auto", "faiss", "torch"] = "auto"
    raw_pixels: bool = Field(True, description="also probe raw pixels as a floor")
    protocol: Literal["frozen_features", "alexnet_conv"] = Field(
        FROZEN_FEATURES,
        description="frozen_features: the probes above on cached features; alexnet_conv: a trained BN + linear head "
        "per conv1..conv5 on augmented images (the self-supervised AlexNet protocol)",
    )
    layer_probe: LayerProbeConfig = Field(
        default_factory=LayerProbeConfig, description="protocol alexnet_conv: how the per-layer heads train"
    )

    @model_validator(mode="after")
    def _shots_positive(self) -> ProbeStageConfig:
        if any(k < 1 for k in self.shots):
            raise ValueError(f"shots must be positive, got {self.shots}")
        return self

    @model_validator(mode="after")
    def _every_label_kept(self) -> ProbeStageConfig:
        if self.data.labelled_per_class is not None:
            raise ValueError("data.labelled_per_class: a probe draws its own labelled shots (`shots`); remove it here")
        return self

    @model_validator(mode="after")
    def _layer_probe_needs_its_protocol(self) -> ProbeStageConfig:
        if self.protocol == FROZEN_FEATURES and "layer_probe" in self.model_fields_set:
            raise ValueError("layer_probe only applies with protocol: alexnet_conv")
        return self

    @model_serializer(mode="wrap")
    def _drop_default_protocol(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The default protocol is left out of dumps, so that probes from before the option keep their fingerprints."""
        dumped = handler(self)
        if dumped.get("protocol") == FROZEN_FEATURES:
            dumped.pop("protocol")
            dumped.pop("layer_probe", None)
        return dumped


@register_stage("probe")
class ProbeStage(Stage):
    """Linear probe, low-shot probes and kNN on the frozen model's cached features."""

    config_class = ProbeStageConfig
    provides = ("metrics", "features")
    headline_metrics: ClassVar[dict[str, str]] = {
        "linear_top1": "linear",
        "linear_top1_5shot": "5-shot",
        "knn_top1": "kNN",
        "raw_pixels_linear_top1_5shot": "pixels 5-shot",
    }

    def run(self) -> dict[str, Any]:
        cfg: ProbeStageConfig = self.cfg
        seed_everything(cfg.engine.seed)
        splits = load_splits(cfg.data)
        model = self.ctx.load_model(cfg.model)
        if cfg.protocol == ALEXNET_CONV:
            return self._layer_probes(model, splits) if distributed.is_main() else {}
        taps = [name for name in model.tap_names if name != "logits"] if cfg.taps == ["all"] else cfg.taps
        device = distributed.local_device(resolve_device(cfg.engine.device))
        model.to(device).eval()
        transform = eval_transform(cfg.data.image_size, splits.mean, splits.std)
        pin = device.type == "cuda"
        ranks = {"rank": distributed.rank(), "world_size": distributed.world_size()}
        loaders = {
            "train": eval_loader(splits.train, transform, cfg.data, pin_memory=pin, **ranks),
            "test": eval_loader(splits.test, transform, cfg.data, pin_memory=pin, **ranks),
        }
        cache = self.ctx.stage_dir / "features"
        features = self._cached_features(model, taps, loaders, cache, device)
        if not distributed.is_main():
            return {}  # the scheduler hands every rank rank 0's metrics
        if cfg.raw_pixels:
            if distributed.is_distributed():  # rank 0 reads all pixels itself
                loaders = {split: eval_loader(getattr(splits, split), transform, cfg.data) for split in loaders}
            features[RAW_PIXELS] = {split: raw_pixels(loader) for split, loader in loaders.items()}
        protocol = ProbeProtocol(
            shots=tuple(cfg.shots),
            draws=cfg.draws,
            knn_k=cfg.knn_k,
            knn_temperature=cfg.knn_temperature,
            knn_backend=cfg.knn_backend,
            seed=cfg.engine.seed,
        )
        metrics: dict[str, Any] = {}
        per_set = {}
        for name, split in features.items():
            (train_x, train_y), (test_x, test_y) = split["train"], split["test"]
            result = evaluate_features(train_x, train_y, test_x, test_y, splits.num_classes, protocol)
            self.ctx.log.info("%s: %s", name, ", ".join(f"{k}={v:.4f}" for k, v in result.items()))
            per_set[name] = result
            prefix = "" if name == "features" else f"{name}_"
            metrics |= {f"{prefix}{key}": value for key, value in result.items()}
        print_probe_table(per_set, cfg.shots)
        return metrics

    def _layer_probes(self, model: torch.nn.Module, splits: Any) -> dict[str, Any]:
        """The AlexNet protocol: per-layer heads trained on augmented images through the frozen trunk."""
        cfg: ProbeStageConfig = self.cfg
        device = resolve_device(cfg.engine.device)
        size, mean, std = cfg.data.image_size, splits.mean, splits.std
        loader, sampler = train_loader(
            splits.train, resize_crop_transform(size, mean, std, train=True), cfg.data, cfg.engine.seed
        )
        test = eval_loader(splits.test, resize_crop_transform(size, mean, std, train=False), cfg.data)
        layer = cfg.layer_probe
        settings = LayerProbeSettings(
            layer.epochs, layer.lr, tuple(layer.milestones), layer.gamma, layer.momentum, layer.weight_decay
        )
        self.ctx.log.info("layer probe: %s on %s, %d epochs", ", ".join(ALEXNET_GRIDS), device, settings.epochs)
        metrics = train_layer_probes(model, loader, sampler, test, splits.num_classes, settings, device)
        print_layer_table(metrics, list(ALEXNET_GRIDS))
        return metrics

    def _cached_features(
        self, model: torch.nn.Module, taps: list[str], loaders: dict, cache: Path, device: torch.device
    ) -> dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        cfg: ProbeStageConfig = self.cfg
        paths = {(tap, split): cache / f"{tap}_{split}.npz" for tap in taps for split in loaders}
        if not distributed.broadcast_object(all(path.is_file() for path in paths.values())):
            progress = cfg.engine.progress and distributed.is_main()
            for split, loader in loaders.items():
                values, labels = extract_features(model, loader, taps, device, cfg.pool_size, progress)
                labels = distributed.gather_rank_shards(labels)
                for tap, tap_values in values.items():
                    tap_values = distributed.gather_rank_shards(tap_values)
                    if distributed.is_main():
                        save_features(paths[tap, split], tap_values, labels)
            self.ctx.log.info("cached features of %s in %s", ", ".join(taps), cache)
        if not distributed.is_main():
            return {}
        return {tap: {split: load_features(paths[tap, split]) for split in loaders} for tap in taps}


def raw_pixels(loader: torch.utils.data.DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """The loader's normalised images flattened to vectors, and their labels."""
    images, labels = zip(*[(batch.flatten(1), targets) for batch, targets, _ in loader], strict=True)
    return torch.cat(images), torch.cat(labels)


def print_layer_table(metrics: dict[str, float], taps: list[str]) -> None:
    """Print one row per probed layer: its pooled map's linear probe top-1 and top-5."""
    table = Table(title="layer probes top-1 / top-5 (test split)")
    for column in ("layer", "top-1", "top-5"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for tap in taps:
        table.add_row(tap, f"{metrics[f'{tap}_linear_top1']:.3f}", f"{metrics[f'{tap}_linear_top5']:.3f}")
    Console().print(table)


def print_probe_table(per_set: dict[str, dict[str, float]], shots: list[int]) -> None:
    """Print one row per feature set: full-label linear, low-shot linear (mean +- std) and kNN top-1."""
    table = Table(title="probe top-1 (test split)")
    for column in ["features", "linear", *(f"{k}-shot" for k in shots), "kNN"]:
        table.add_column(column, justify="left" if column == "features" else "right")
    for name, result in per_set.items():
        low_shot = [f"{result[f'linear_top1_{k}shot']:.3f} ± {result[f'linear_top1_{k}shot_std']:.3f}" for k in shots]
        table.add_row(name, f"{result['linear_top1']:.3f}", *low_shot, f"{result['knn_top1']:.3f}")
    Console().print(table)
