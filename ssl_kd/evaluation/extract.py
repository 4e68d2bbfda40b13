"""Features of a finished stage's model on a dataset split: to ``.npy`` shards (``ssl-kd extract``) or in memory.

The images go through the model's own evaluation transform (its training image size and normalisation, from
``model.pt``), unaugmented, as in the probe stage (docs/methods/probes.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ssl_kd.config.schema import DataConfig
from ssl_kd.data import ImageSplits, eval_loader, eval_transform, load_splits
from ssl_kd.data.loaders import SubsetSource
from ssl_kd.errors import DataError
from ssl_kd.evaluation.features import extract_features
from ssl_kd.evaluation.shards import check_settings, write_shards
from ssl_kd.export.source import StageModel, load_stage
from ssl_kd.models.base import FEATURES

SPLITS = ("train", "test")
DEFAULT_CHUNK = 256
LOG = logging.getLogger("ssl_kd")


def stage_data(source: StageModel, dataset: str | None = None, root: Path | None = None) -> DataConfig:
    """The data settings for evaluating ``source``: its dataset (unless overridden) at its image size."""
    name = dataset or source.meta.get("dataset")
    if name is None:
        raise DataError(f"{source.stage_dir}/model.pt does not name its dataset; pass --data NAME")
    return DataConfig(name=name, root=root, image_size=source.input_shape[-1], augment="none")


def _split_source(splits: ImageSplits, split: str) -> Any:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; available: {', '.join(SPLITS)}")
    return getattr(splits, split)


def _transform(source: StageModel, splits: ImageSplits, data: DataConfig) -> Any:
    mean, std = source.meta.get("mean", splits.mean), source.meta.get("std", splits.std)
    return eval_transform(data.image_size, mean, std)


def extract_to_shards(
    stage_dir: Path,
    out_dir: Path,
    data: DataConfig | None = None,
    splits: Sequence[str] = SPLITS,
    layers: Sequence[str] = (FEATURES,),
    pool_size: int = 1,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = True,
) -> dict[str, int]:
    """Write the features of ``stage_dir``'s model on ``splits`` to ``out_dir`` (resumable, see ``shards``).

    Args:
        stage_dir: A finished stage folder holding ``model.pt``.
        out_dir: The shard folder.
        data: Dataset settings (default: the model's dataset, see :func:`stage_data`).
        splits: Split names (``train``, ``test``).
        layers: Taps, e.g. ``features`` or AlexNet's ``conv1`` .. ``conv5``.
        pool_size: 4-D maps are average-pooled to ``pool_size x pool_size`` and flattened.
        chunk_size: Samples per shard (and per forward batch).
        progress: Show progress bars.

    Returns:
        ``{split: chunks written now}`` (0 when the split was already complete).
    """
    source = load_stage(stage_dir)
    source.model._check_taps(layers)
    data = data or stage_data(source)
    image_splits = load_splits(data)
    transform = _transform(source, image_splits, data)
    sets = {split: _split_source(image_splits, split) for split in splits}
    settings = {
        "stage": str(Path(stage_dir).resolve()),
        "arch": source.model.arch,
        "data": data.model_dump(mode="json", exclude={"batch_size", "eval_batch_size", "num_workers"}),
        "layers": list(layers),
        "pool_size": pool_size,
        "chunk_size": chunk_size,
        "class_names": image_splits.class_names,
    }
    check_settings(out_dir, settings, {split: len(images) for split, images in sets.items()})
    loader_cfg = data.model_copy(update={"eval_batch_size": chunk_size})
    written = {}
    for split, images in sets.items():

        def make_loader(indices: list[int], images: Any = images) -> DataLoader:
            return eval_loader(SubsetSource(images, indices), transform, loader_cfg)

        written[split] = write_shards(
            source.model, make_loader, len(images), out_dir, split, layers, chunk_size, pool_size, progress
        )
        LOG.info("%s: %d new chunk(s) in %s", split, written[split], out_dir)
    return written


def stage_features(
    stage_dir: Path, data: DataConfig | None = None, layer: str = FEATURES, pool_size: int = 1
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], int]:
    """Train and test features of ``stage_dir``'s model, in memory (for evaluating a checkpoint directly).

    Returns:
        ``({"train": (x, y), "test": (x, y)}, num_classes)``.
    """
    source = load_stage(stage_dir)
    data = data or stage_data(source)
    image_splits = load_splits(data)
    transform = _transform(source, image_splits, data)
    features = {}
    for split in SPLITS:
        loader = eval_loader(getattr(image_splits, split), transform, data)
        taps, labels = extract_features(source.model, loader, [layer], pool_size=pool_size, progress=False)
        features[split] = (taps[layer], labels)
    return features, image_splits.num_classes
