"""The image and video classification domains: ``(images, labels)`` batches, test top-1 of the output model.

Both share one implementation; they differ in their datasets (``register_dataset(..., video=True)`` for clips) and
name, so that a method can declare which it trains on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch.utils.data import DataLoader

from ssl_kd.data.loaders import eval_loader, load_splits, train_loader
from ssl_kd.data.transforms import eval_transform, train_transform
from ssl_kd.engine.domain import Domain, DomainData, Evaluate, Placement, register_domain
from ssl_kd.engine.method import TrainableMethod
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.evaluation.accuracy import top1_accuracy


@dataclass(frozen=True)
class ClassificationFacts:
    """What a classification method may know of its data."""

    num_classes: int
    class_names: list[str]
    image_size: int


@register_domain
class ImageClassification(Domain):
    """Images (or clips) with one class label each."""

    name = "image_classification"
    headline_metrics: ClassVar[dict[str, str]] = {"test_top1": "test top-1"}

    def load(self, cfg: Any) -> DomainData:
        splits = load_splits(cfg.data)
        facts = ClassificationFacts(splits.num_classes, list(splits.class_names), cfg.data.image_size)
        return DomainData(facts=facts, num_train_samples=len(splits.train), splits=splits)

    def train_loader(
        self, data: DomainData, cfg: Any, method_class: type[TrainableMethod], placement: Placement
    ) -> tuple[DataLoader, ResumableBatchSampler]:
        splits = data.splits
        augment = method_class.train_transform(cfg, splits.mean, splits.std) or train_transform(
            cfg.data.image_size, splits.mean, splits.std, cfg.data.augment
        )
        return train_loader(
            splits.train,
            augment,
            cfg.data,
            cfg.engine.seed,
            pin_memory=placement.pin_memory,
            rank=placement.rank,
            world_size=placement.world_size,
        )

    def evaluator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        splits = data.splits
        plain = eval_transform(cfg.data.image_size, splits.mean, splits.std)
        ranks = {"rank": placement.rank, "world_size": placement.world_size}
        test_loader = eval_loader(splits.test, plain, cfg.data, pin_memory=placement.pin_memory, **ranks)

        def evaluate() -> dict[str, float]:
            model = method.output_model()
            if model.num_classes != splits.num_classes:  # a headless (self-supervised) backbone: probe it instead
                return {}
            return {"test_top1": top1_accuracy(model, test_loader, placement.device, placement.dtype)}

        return evaluate

    def model_metadata(self, data: DomainData, cfg: Any) -> dict[str, Any]:
        splits = data.splits
        return {
            "dataset": cfg.data.name,
            "image_size": cfg.data.image_size,
            "mean": list(splits.mean),
            "std": list(splits.std),
            "class_names": splits.class_names,
        }

    def describe(self, data: DomainData) -> str:
        return f"{data.num_train_samples} training samples, {data.facts.num_classes} classes"


@register_domain
class VideoClassification(ImageClassification):
    """Video clips with one class label each."""

    name = "video_classification"
