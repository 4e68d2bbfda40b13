"""The object-detection domain: images with boxes and class labels, one-stage detectors, COCO box mAP.

Datasets: ``digits_detection`` (embedded digit canvases, generated when missing) and ``coco`` (a COCO-format
instances JSON and image folder under ``data.root``); see :mod:`ssl_kd.detection.data` and docs/methods/detection.md.
Beside them an image-classification dataset, ``canvas_digits``: the canvases' digits split as the canvases split
them, for pretraining a detector's backbone.
A training batch is a :class:`DetectionBatch`: images all of the data's fixed size (already augmented, per sample
under the sampler's seed), and per image its boxes (xyxy pixels) and labels (1..num_classes; 0 is background).
Methods learn what the data holds from :class:`DetectionFacts` (class names, image size, per-class box size
statistics). Test metrics: COCO box mAP@[.5:.95], AP50, AP75, AP by size and AR@100 of the output detector.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ssl_kd.config.schema import DatasetConfig
from ssl_kd.data.base import ImageSplits
from ssl_kd.data.digits import digit_splits, digits_tensors
from ssl_kd.detection.data import (
    DetectionSource,
    DetectionSplits,
    DigitCanvasSettings,
    coco_splits,
    digit_canvas_splits,
    digit_pools,
)
from ssl_kd.detection.transforms import Augment, apply, detection_transform
from ssl_kd.engine.domain import Domain, DomainData, Evaluate, Placement, register_domain, whole_batch_loader
from ssl_kd.engine.method import Batch, TrainableMethod
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.evaluation.coco_map import coco_box_map
from ssl_kd.registry import DATASETS, register_dataset

DOMAIN = "object_detection"
COCO_ONLY = ("annotations", "images", "test_annotations", "test_images")


class DetectionBatch(NamedTuple):
    """An object-detection batch.

    Attributes:
        images: ``(B, 3, H, W)`` float in [0, 1], all ``data.image_size`` square, already augmented.
        boxes: per image ``(N_i, 4)`` float xyxy in pixels of ``images`` (``N_i`` may be 0).
        labels: per image ``(N_i,)`` int64 in ``1..num_classes`` (0 is background, torchvision's convention).
    """

    images: Tensor
    boxes: list[Tensor]
    labels: list[Tensor]


@dataclass(frozen=True)
class DetectionFacts:
    """What a detection method may know of its data.

    Attributes:
        num_classes: object classes (labels ``1..num_classes``).
        class_names: name of label ``k`` at index ``k - 1``.
        image_size: side of the square images, in pixels.
        box_stats: ``(num_classes, 4)`` float: per class the mean width, mean height, std of width and std of height
            of its training boxes, relative to ``image_size`` (row ``k - 1`` is label ``k``; zeros for a class
            without boxes).
        class_frequency: ``(num_classes,)`` float: each class's share of the training boxes (sums to 1).
    """

    num_classes: int
    class_names: tuple[str, ...]
    image_size: int
    box_stats: Tensor
    class_frequency: Tensor


class DetectionDataConfig(DatasetConfig):
    """Which detection dataset a stage reads, at which fixed image size, and how it is augmented and batched."""

    domains: ClassVar[tuple[str, ...]] = (DOMAIN,)

    name: str = Field("digits_detection", description="digits_detection (embedded) or coco (data.root)")
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(32, ge=1)
    image_size: int = Field(96, ge=32, description="square image side: the canvas size, or COCO's letterbox size")
    augment: Augment = Field("standard", description="standard (scale jitter, translation, photometric) or none")
    train_canvases: int = Field(2000, ge=1, description="digits_detection: training canvases")
    test_canvases: int = Field(400, ge=1, description="digits_detection: test canvases")
    canvas_seed: int = Field(0, description="digits_detection: generator seed")
    clutter: int | None = Field(
        None, ge=0, description="digits_detection: most unlabelled digit fragments per canvas, 0..clutter (unset: 2)"
    )
    annotations: Path | None = Field(None, description="coco: training instances JSON (relative to data.root)")
    images: Path | None = Field(None, description="coco: its image folder (default: root/<split name of the JSON>)")
    test_annotations: Path | None = Field(
        None, description="coco: test instances JSON; unset: a seeded hold-out of data.test_fraction of the images"
    )
    test_images: Path | None = Field(None, description="coco: the test image folder (default as for images)")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="coco without test_annotations: held-out fraction")
    split_seed: int = Field(0, description="coco without test_annotations: seed of the hold-out")

    @model_validator(mode="after")
    def _options_of_the_dataset(self) -> DetectionDataConfig:
        if self.name == "coco" and self.annotations is None:
            raise ValueError("dataset 'coco' needs data.annotations (an instances JSON under data.root)")
        if self.name != "coco":
            given = [key for key in COCO_ONLY if getattr(self, key) is not None]
            if given:
                raise ValueError(f"{', '.join(f'data.{k}' for k in given)} only apply to the coco dataset")
        if self.name == "coco" and self.clutter is not None:
            raise ValueError("data.clutter only applies to the digits_detection dataset")
        return self

    @model_serializer(mode="wrap")
    def _drop_unset_clutter(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Unset ``clutter`` is left out of dumps (and fingerprints), so that runs from before it existed stay valid."""
        dumped = handler(self)
        if dumped.get("clutter") is None:
            dumped.pop("clutter", None)
        return dumped

    def canvas_settings(self) -> DigitCanvasSettings:
        """The digit-canvas generator settings of this config."""
        return DigitCanvasSettings(
            train_canvases=self.train_canvases,
            test_canvases=self.test_canvases,
            size=self.image_size,
            seed=self.canvas_seed,
            **({} if self.clutter is None else {"clutter": self.clutter}),
        )


@register_dataset("digits_detection", requires_root=False, domain=DOMAIN)
def build_digits_detection(data: DetectionDataConfig) -> DetectionSplits:
    """Embedded digit canvases (scikit-learn digits, several per canvas, clutter, noise), cached in data.root
    (default data/digits_detection) and generated there when missing."""
    return digit_canvas_splits(data.root, data.canvas_settings())


@register_dataset("canvas_digits", requires_root=False)
def build_canvas_digits(root: Path | None, image_size: int) -> ImageSplits:
    """The digit images the canvases are made of (canvas_seed 0), as an image-classification set split as the canvases
    split them: the 1,347 digits training canvases show, and the 450 only test canvases show. The images are the
    digits' whole 8x8 frames resized to ``image_size`` (as the ``digits`` dataset; whose own split differs). Pretraining
    a detector's backbone on its training split (``backbone_from``) stands in for ImageNet weights without letting the
    backbone see a test canvas's digit."""
    images, labels = digits_tensors(image_size)
    pools = digit_pools(np.random.default_rng(DigitCanvasSettings().seed), len(labels))
    return digit_splits(images, labels, torch.from_numpy(pools["train"]), torch.from_numpy(pools["test"]))


@register_dataset("coco", requires_root=True, domain=DOMAIN)
def build_coco(data: DetectionDataConfig) -> DetectionSplits:
    """A COCO-format dataset under data.root: instances JSON(s) and image folder(s), read with pycocotools."""
    return coco_splits(
        data.root,
        data.annotations,
        data.images,
        data.test_annotations,
        data.test_images,
        data.image_size,
        data.test_fraction,
        data.split_seed,
    )


def detection_facts(splits: DetectionSplits, image_size: int) -> DetectionFacts:
    """Class count, names, image size and per-class box statistics of the training split (no image decoded)."""
    num_classes = len(splits.class_names)
    targets = [splits.train.targets(i) for i in range(len(splits.train))]
    boxes_all = torch.cat([torch.zeros(0, 4), *(boxes for boxes, _ in targets)])
    labels_all = torch.cat([torch.zeros(0, dtype=torch.int64), *(labels for _, labels in targets)])
    sides = (boxes_all[:, 2:] - boxes_all[:, :2]) / image_size
    stats = torch.zeros(num_classes, 4)
    counts = torch.bincount(labels_all - 1, minlength=num_classes)[:num_classes].float()
    for k in range(num_classes):
        chosen = sides[labels_all == k + 1]
        if len(chosen):
            stats[k, :2] = chosen.mean(0)
            stats[k, 2:] = chosen.std(0, correction=0)
    frequency = counts / counts.sum().clamp(min=1)
    return DetectionFacts(num_classes, tuple(splits.class_names), image_size, stats, frequency)


class AugmentedDetections(Dataset):
    """Whole training batches: item = the sampler's list of ``(index, seed)``; each image augmented under its seed.

    Undecodable images are left out of the batch and named in ``Batch.skipped``.
    """

    def __init__(self, source: DetectionSource, augment: Augment) -> None:
        self.source = source
        self.transform = detection_transform(augment)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, items: list[tuple[int, int]]) -> Batch:
        images, boxes, labels, ids, skipped = [], [], [], [], []
        generator = torch.default_generator
        saved = generator.get_state()
        try:
            for index, seed in items:
                try:
                    image = self.source.load(index)
                except (OSError, RuntimeError, ValueError) as err:
                    skipped.append(f"{self.source.name(index)} ({type(err).__name__}: {err})")
                    continue
                generator.manual_seed(seed)
                image, image_boxes, image_labels = apply(self.transform, image, *self.source.targets(index))
                images.append(image)
                boxes.append(image_boxes)
                labels.append(image_labels)
                ids.append(index)
        finally:
            generator.set_state(saved)
        size = self.source.image_size
        stacked = torch.stack(images) if images else torch.zeros(0, 3, size, size)
        return Batch(DetectionBatch(stacked, boxes, labels), torch.as_tensor(ids, dtype=torch.int64), skipped)


class DecodedChunk(NamedTuple):
    """A chunk of :func:`decodable_chunks`: the decoded uint8 images ``(B, 3, H, W)`` (None if none decoded), their
    indices, and the names of the chunk's undecodable images."""

    images: Tensor | None
    ids: list[int]
    skipped: list[str]


def decodable_chunks(source: DetectionSource, chunk: int, limit: int | None = None) -> Iterator[DecodedChunk]:
    """The first ``limit`` (default all) images of ``source`` in chunks of ``chunk`` indices, undecodable ones left
    out and named; a chunk where none decodes is skipped."""
    count = len(source) if limit is None else min(limit, len(source))
    for start in range(0, count, chunk):
        images, ids, skipped = [], [], []
        for index in range(start, min(start + chunk, count)):
            try:
                images.append(source.load(index))
                ids.append(index)
            except (OSError, RuntimeError, ValueError) as err:
                skipped.append(f"{source.name(index)} ({type(err).__name__}: {err})")
        yield DecodedChunk(torch.stack(images) if images else None, ids, skipped)


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    source: DetectionSource,
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype | None = None,
    limit: int | None = None,
) -> tuple[list[dict[str, Tensor]], list[int], list[str]]:
    """``model``'s detections (on the CPU) of the first ``limit`` (default all) images of ``source``.

    Returns the detections, the indices they belong to, and the names of undecodable images (left out).
    """
    model.eval()
    predictions: list[dict[str, Tensor]] = []
    kept: list[int] = []
    skipped: list[str] = []
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    for images, ids, undecodable in decodable_chunks(source, batch_size, limit):
        skipped += undecodable
        if images is None:
            continue
        with autocast:
            detections = model(images.to(device).float().div_(255))
        predictions += [{key: value.float().cpu() for key, value in d.items()} for d in detections]
        kept += ids
    return predictions, kept, skipped


def box_metrics(
    model: torch.nn.Module, source: DetectionSource, num_classes: int, cfg: Any, placement: Placement, prefix: str
) -> dict[str, float]:
    """COCO box AP of ``model`` on ``source`` (keys ``{prefix}_map``, ...), with image and skip counts."""
    predictions, kept, skipped = predict(model, source, cfg.data.eval_batch_size, placement.device, placement.dtype)
    targets = [source.targets(i) for i in kept]
    size = (source.image_size, source.image_size)
    metrics = coco_box_map(predictions, targets, size, num_classes) if kept else {}
    return {f"{prefix}_{key}": value for key, value in metrics.items()} | {
        f"{prefix}_images": len(kept),
        f"{prefix}_skipped_images": len(skipped),
    }


def detection_splits(data: DomainData) -> DetectionSplits:
    return data.splits


@register_domain
class ObjectDetection(Domain):
    """Object detection: boxes and class labels per image, COCO box mAP of the output detector."""

    name = DOMAIN
    headline_metrics: ClassVar[dict[str, str]] = {"test_map": "mAP", "test_ap50": "AP50", "test_ap75": "AP75"}

    def load(self, cfg: Any) -> DomainData:
        splits: DetectionSplits = DATASETS.get(cfg.data.name).build(cfg.data)
        facts = detection_facts(splits, cfg.data.image_size)
        return DomainData(facts=facts, num_train_samples=len(splits.train), splits=splits)

    def train_loader(
        self, data: DomainData, cfg: Any, method_class: type[TrainableMethod], placement: Placement
    ) -> tuple[DataLoader, ResumableBatchSampler]:
        return whole_batch_loader(AugmentedDetections(detection_splits(data).train, cfg.data.augment), cfg, placement)

    def evaluator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        splits = detection_splits(data)
        num_classes = data.facts.num_classes
        return lambda: box_metrics(method.output_model(), splits.test, num_classes, cfg, placement, "test")

    def model_metadata(self, data: DomainData, cfg: Any) -> dict[str, Any]:
        return {
            "dataset": cfg.data.name,
            "domain": DOMAIN,
            "image_size": cfg.data.image_size,
            "class_names": list(data.facts.class_names),
        }

    def describe(self, data: DomainData) -> str:
        splits = detection_splits(data)
        dropped = ", ".join(f"{key.replace('_', ' ')} {n}" for key, n in splits.dropped.items() if n)
        return (
            f"{len(splits.train)} training / {len(splits.test)} test images of {data.facts.image_size} px, "
            f"{data.facts.num_classes} classes" + (f" (dropped or clipped: {dropped})" if dropped else "")
        )
