"""A tiny ImageNet-layout folder for tests: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` at 224 px."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

WNIDS = ("n01440764", "n01443537", "n01484850")


def make_imagenet_folder(root: Path, train_per_class: int = 4, val_per_class: int = 2, size: int = 224) -> Path:
    """Write JPEGs whose class is their dominant colour (plus noise), so that a few steps can learn something."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for label, wnid in enumerate(WNIDS):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 96, (size + 16 * index, size, 3))
                pixels[..., label] += 150
                name = f"{wnid}_{index}.JPEG" if split == "train" else f"ILSVRC2012_val_{label}{index:07d}.JPEG"
                Image.fromarray(pixels.astype(np.uint8)).save(folder / name, quality=90)
    return root
