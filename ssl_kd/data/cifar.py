"""CIFAR-10 and CIFAR-100 read from their official python pickle layout at a local path (never downloaded).

``root`` is the folder holding ``data_batch_1..5`` + ``test_batch`` + ``batches.meta`` (CIFAR-10) or ``train`` +
``test`` + ``meta`` (CIFAR-100), or its parent (``cifar-10-batches-py`` / ``cifar-100-python`` inside).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ssl_kd.data.base import ImageSplits, TensorImages, channel_stats, register_dataset
from ssl_kd.errors import DataError

LAYOUTS = {
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        "test_batch",
        "batches.meta",
    ),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta"),
}
LABEL_KEYS = {"cifar10": (b"labels", b"label_names"), "cifar100": (b"fine_labels", b"fine_label_names")}


def _unpickle(path: Path) -> dict:
    with path.open("rb") as handle:
        return pickle.load(handle, encoding="bytes")


def _locate(root: Path, variant: str) -> Path:
    subdir, train_files, test_file, _ = LAYOUTS[variant]
    for folder in (root, root / subdir):
        if all((folder / name).is_file() for name in [*train_files, test_file]):
            return folder
    expected = ", ".join([*train_files, test_file])
    raise DataError(f"{variant}: {root} does not hold the python pickle files ({expected})")


def _read_split(folder: Path, files: list[str], label_key: bytes) -> TensorImages:
    images, labels = [], []
    for name in files:
        batch = _unpickle(folder / name)
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(batch[label_key])
    return TensorImages(torch.from_numpy(np.concatenate(images)), torch.as_tensor(labels, dtype=torch.int64))


def _resize(source: TensorImages, image_size: int) -> TensorImages:
    if image_size == 32:
        return source
    images = F.interpolate(source.images.float(), size=image_size, mode="bilinear", antialias=True)
    return TensorImages(images.round().clamp(0, 255).to(torch.uint8), source.labels)


def _build(root: Path, image_size: int, variant: str) -> ImageSplits:
    folder = _locate(root, variant)
    _, train_files, test_file, meta_file = LAYOUTS[variant]
    label_key, names_key = LABEL_KEYS[variant]
    train = _resize(_read_split(folder, train_files, label_key), image_size)
    test = _resize(_read_split(folder, [test_file], label_key), image_size)
    names_path = folder / meta_file
    names = [n.decode() for n in _unpickle(names_path)[names_key]] if names_path.is_file() else []
    num_classes = int(train.labels.max()) + 1
    mean, std = channel_stats(train.images)
    return ImageSplits(train, test, num_classes, mean, std, names or [str(c) for c in range(num_classes)])


@register_dataset("cifar10", requires_root=True)
def build_cifar10(root: Path, image_size: int) -> ImageSplits:
    """CIFAR-10 from its python pickles."""
    return _build(root, image_size, "cifar10")


@register_dataset("cifar100", requires_root=True)
def build_cifar100(root: Path, image_size: int) -> ImageSplits:
    """CIFAR-100 (fine labels) from its python pickles."""
    return _build(root, image_size, "cifar100")
