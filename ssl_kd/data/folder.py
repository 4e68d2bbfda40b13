"""Local ImageFolder trees: ``root/train/<class>/*.png`` and ``root/test/<class>/*`` (or ``root/val/``), and
ImageNet's layout (``imagenet``: ``root/train/<wnid>/*.JPEG``, ``root/val/<wnid>/*``).

Only paths are listed here; images are decoded lazily in the loader (in its worker processes, ``data.num_workers``,
by default a few per machine for these datasets: :func:`ssl_kd.data.loaders.default_workers`); a file that cannot be
decoded is skipped, counted and named in the stage's log and metrics (see :mod:`ssl_kd.data.loaders`).
"""

from __future__ import annotations

from pathlib import Path

from ssl_kd.data.base import ImageSplits, register_dataset
from ssl_kd.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageFiles:
    """Image file paths and labels of one split; ``files[i] -> (path, label)``."""

    def __init__(self, paths: list[Path], targets: list[int]) -> None:
        self.paths = paths
        self.targets = targets

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Path, int]:
        return self.paths[index], self.targets[index]


def _scan(split_dir: Path, classes: list[str], dataset: str = "image_folder") -> ImageFiles:
    paths, targets = [], []
    for label, name in enumerate(classes):
        for path in sorted((split_dir / name).rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(path)
                targets.append(label)
    if not paths:
        raise DataError(f"{dataset}: no images under {split_dir}")
    return ImageFiles(paths, targets)


@register_dataset("image_folder", requires_root=True)
def build_image_folder(root: Path, image_size: int) -> ImageSplits:
    """Class-folder tree with ``train`` and ``test`` (or ``val``) splits; classes are the train sub-folders."""
    train_dir = root / "train"
    test_dir = next((root / name for name in ("test", "val") if (root / name).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise DataError(f"image_folder: {root} needs 'train/' and 'test/' (or 'val/') class-folder sub-directories")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    return ImageSplits(
        train=_scan(train_dir, classes),
        test=_scan(test_dir, classes),
        num_classes=len(classes),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        class_names=classes,
    )


@register_dataset("imagenet", requires_root=True)
def build_imagenet(root: Path, image_size: int) -> ImageSplits:
    """ImageNet's folder layout: train/<wnid>/*.JPEG and val/<wnid>/* (val sorted into class folders)."""
    train_dir, val_dir = root / "train", root / "val"
    for split_dir in (train_dir, val_dir):
        if not split_dir.is_dir():
            raise DataError(f"imagenet: {split_dir} is missing (the layout is train/<wnid>/*.JPEG and val/<wnid>/*)")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"imagenet: {train_dir} has no class folders (train/<wnid>/*.JPEG)")
    val_classes = sorted(p.name for p in val_dir.iterdir() if p.is_dir())
    if not val_classes:
        loose = sum(1 for p in val_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        raise DataError(
            f"imagenet: {val_dir} holds {loose} images and no class folders; sort them into val/<wnid>/ "
            "(with the devkit's validation labels) first"
        )
    unknown = sorted(set(val_classes) - set(classes))
    if unknown:
        raise DataError(f"imagenet: {val_dir} has class folders that train/ lacks: {', '.join(unknown[:3])}")
    return ImageSplits(
        train=_scan(train_dir, classes, "imagenet"),
        test=_scan(val_dir, classes, "imagenet"),
        num_classes=len(classes),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        class_names=classes,
    )
