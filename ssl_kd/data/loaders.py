"""DataLoaders whose augmentations and order are a pure function of (seed, epoch, position).

Every training sample carries its own seed, drawn from a generator seeded by ``(seed, epoch)``; its random
augmentation is computed under that seed. The order and the augmentations are therefore the same whether the
loader runs in the main process or in workers, and a run resumed in the middle of an epoch sees exactly the batches
an uninterrupted run would have seen. Undecodable files are skipped, and their names travel with the batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from ssl_kd.config.schema import DataConfig
from ssl_kd.data.base import UNLABELLED, ImageSource, ImageSplits
from ssl_kd.data.folder import ImageFiles
from ssl_kd.engine.method import Batch
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.errors import DataError
from ssl_kd.registry import DATASETS


@dataclass(frozen=True)
class Skipped:
    """Marker for a sample whose file could not be decoded."""

    name: str
    reason: str


class SubsetSource:
    """The samples of ``source`` at ``indices``."""

    def __init__(self, source: ImageSource, indices: list[int]) -> None:
        self.source = source
        self.indices = indices
        self.targets = [source.targets[i] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.source[self.indices[index]]


def per_class_subset(source: ImageSource, per_class: int, seed: int) -> SubsetSource:
    """A random subset with at most ``per_class`` samples of each class, deterministic in ``seed``."""
    targets = torch.as_tensor(list(source.targets))
    generator = torch.Generator().manual_seed(seed)
    keep = []
    for label in targets.unique().tolist():
        members = (targets == label).nonzero().flatten()
        keep.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return SubsetSource(source, sorted(torch.cat(keep).tolist()))


class PartiallyLabelledSource:
    """Every sample of ``source``; those not in ``labelled`` are returned with the label :data:`UNLABELLED`."""

    def __init__(self, source: ImageSource, labelled: list[int]) -> None:
        self.source = source
        keep = set(labelled)
        self.targets = [label if i in keep else UNLABELLED for i, label in enumerate(source.targets)]

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, _ = self.source[index]
        return image, self.targets[index]


def decode_image(path: Path) -> Image.Image:
    """Open an image file as RGB."""
    with Image.open(path) as image:
        return image.convert("RGB")


class TransformedImages(Dataset):
    """Applies ``transform`` to a source. Items are indices or ``(index, seed)`` pairs (seeded augmentation).

    A seeded (training) item also returns its index, so training batches carry their samples' dataset indices.
    """

    def __init__(self, source: ImageSource, transform: Callable[[Any], Any]) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[Any, int] | Skipped:
        index, seed = item if isinstance(item, tuple) else (item, None)
        image, label = self.source[index]
        if seed is None:
            return self._load_and_transform(image, label, augment=False)
        # Seed only the CPU generator the transforms draw from (torch.manual_seed would also touch CUDA and
        # costs ~80 us), and restore it afterwards so the caller's random stream is unchanged.
        generator = torch.default_generator
        saved = generator.get_state()
        generator.manual_seed(seed)
        try:
            sample = self._load_and_transform(image, label, augment=True)
        finally:
            generator.set_state(saved)
        return sample if isinstance(sample, Skipped) else (*sample, index)

    def _load_and_transform(self, image: Any, label: int, augment: bool) -> tuple[Any, int] | Skipped:
        """Decode a lazy sample (an image path, or an object with ``load(augment)`` such as a video clip), then
        transform. Seeded (training) samples load with ``augment=True``, under the sample's seed, so random clip
        windows are reproducible.
        """
        if isinstance(image, Path) or hasattr(image, "load"):
            try:
                image = decode_image(image) if isinstance(image, Path) else image.load(augment)
            except (OSError, UnidentifiedImageError, ValueError, RuntimeError) as err:
                return Skipped(str(image), f"{type(err).__name__}: {err}")
        return self.transform(image), label


def collate(samples: list[tuple[Any, int] | Skipped]) -> tuple[Any, torch.Tensor, list[str]]:
    """Stack images and labels; skipped samples are dropped and their names returned third."""
    kept = [s for s in samples if not isinstance(s, Skipped)]
    skipped = [f"{s.name} ({s.reason})" for s in samples if isinstance(s, Skipped)]
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.int64), skipped
    images = torch.utils.data.default_collate([s[0] for s in kept])
    return images, torch.as_tensor([s[1] for s in kept]), skipped


def train_collate(samples: list[tuple[Any, int, int] | Skipped]) -> Batch:
    """A training :class:`~ssl_kd.engine.method.Batch`: inputs ``(images, labels)`` from :func:`collate`, the kept
    samples' dataset indices (int64, CPU) and the skipped samples' names."""
    images, labels, skipped = collate(samples)
    indices = torch.as_tensor([s[2] for s in samples if not isinstance(s, Skipped)], dtype=torch.int64)
    return Batch((images, labels), indices, skipped)


def load_splits(cfg: DataConfig) -> ImageSplits:
    """Build the dataset named by ``cfg`` (with the ``train_per_class`` subset or ``labelled_per_class`` applied).

    ``labelled_per_class`` draws the same samples as ``train_per_class`` with the same count and seed, so a teacher
    adapted on ``train_per_class: n`` has seen exactly the labels a ``labelled_per_class: n`` student keeps.
    """
    entry = DATASETS.get(cfg.name)
    if entry.requires_root and cfg.root is None:
        raise DataError(f"dataset {cfg.name!r} needs data.root (a local path; nothing is downloaded)")
    if cfg.root is not None and not Path(cfg.root).exists():
        raise DataError(f"dataset {cfg.name!r}: data.root {str(cfg.root)!r} does not exist")
    options = {"data": cfg} if entry.video else {}
    splits = entry.build(root=cfg.root, image_size=cfg.image_size, **options)
    if cfg.train_per_class is not None:
        splits.train = per_class_subset(splits.train, cfg.train_per_class, cfg.subset_seed)
    if cfg.labelled_per_class is not None:
        labelled = per_class_subset(splits.train, cfg.labelled_per_class, cfg.subset_seed).indices
        splits.train = PartiallyLabelledSource(splits.train, labelled)
    return splits


MAX_DEFAULT_WORKERS = 8


def reads_files(source: ImageSource) -> bool:
    """Whether ``source`` (through any subset wrappers) decodes image files, as folder datasets do."""
    while not isinstance(source, ImageFiles) and hasattr(source, "source"):
        source = source.source
    return isinstance(source, ImageFiles)


def default_workers(world_size: int = 1) -> int:
    """Loader workers when ``data.num_workers`` is not set for a dataset of image files: the CPUs this process may
    use, shared among the local processes, less one for the training loop (1 to 8)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus // max(1, world_size) - 1))


def _loader_options(cfg: DataConfig, pin_memory: bool, source: ImageSource, world_size: int = 1) -> dict[str, Any]:
    """DataLoader options; an unset ``data.num_workers`` is :func:`default_workers` for image files, else 0 (in-memory
    datasets such as digits decode nothing, and worker processes would only add their start-up)."""
    unset = "num_workers" not in cfg.model_fields_set
    workers = default_workers(world_size) if unset and reads_files(source) else cfg.num_workers
    return {
        "num_workers": workers,
        "collate_fn": collate,
        "pin_memory": pin_memory,
        "persistent_workers": workers > 0,
        "prefetch_factor": 4 if workers > 0 else None,
    }


def train_loader(
    source: ImageSource,
    transform: Callable[[Any], Any],
    cfg: DataConfig,
    seed: int,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[DataLoader, ResumableBatchSampler]:
    """A resumable, seeded training loader and its batch sampler."""
    sampler = ResumableBatchSampler(len(source), cfg.batch_size, seed, rank, world_size)
    dataset = TransformedImages(source, transform)
    options = _loader_options(cfg, pin_memory, source, world_size) | {"collate_fn": train_collate}
    return DataLoader(dataset, batch_sampler=sampler, **options), sampler


def rank_shard(source: ImageSource, rank: int, world_size: int) -> ImageSource:
    """Samples ``rank, rank + world_size, ...`` of ``source`` (the whole source for one process)."""
    if world_size == 1:
        return source
    return SubsetSource(source, list(range(rank, len(source), world_size)))


def eval_loader(
    source: ImageSource,
    transform: Callable[[Any], Any],
    cfg: DataConfig,
    pin_memory: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A sequential, unshuffled loader over ``source`` (this rank's shard of it) with ``cfg.eval_batch_size``."""
    dataset = TransformedImages(rank_shard(source, rank, world_size), transform)
    options = _loader_options(cfg, pin_memory, source, world_size) | {"persistent_workers": False}
    return DataLoader(dataset, batch_size=cfg.eval_batch_size, shuffle=False, **options)
