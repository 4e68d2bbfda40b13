"""Local ImageFolder trees: ``root/train/<class>/*.png`` and ``root/test/<class>/*`` (or ``root/val/``).

Images are decoded lazily in the loader; a file that cannot be decoded is skipped, counted and named in the
stage's log and metrics (see :mod:`ssl_kd.data.loaders`).
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


def _scan(split_dir: Path, classes: list[str]) -> ImageFiles:
    paths, targets = [], []
    for label, name in enumerate(classes):
        for path in sorted((split_dir / name).rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(path)
                targets.append(label)
    if not paths:
        raise DataError(f"image_folder: no images under {split_dir}")
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
