"""ImageNet's folder layout and the loader-worker default for datasets of image files."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagenet_folder import WNIDS, make_imagenet_folder

from ssl_kd import builtins
from ssl_kd.config.schema import DataConfig
from ssl_kd.data import load_splits
from ssl_kd.data.loaders import default_workers, eval_loader, reads_files
from ssl_kd.data.transforms import resize_crop_transform
from ssl_kd.errors import DataError

builtins.load()


def test_the_imagenet_layout_reads_wnid_folders(tmp_path: Path) -> None:
    root = make_imagenet_folder(tmp_path / "imagenet", train_per_class=2, val_per_class=1)
    splits = load_splits(DataConfig(name="imagenet", root=root, image_size=224))
    assert splits.class_names == list(WNIDS) and splits.num_classes == 3
    assert len(splits.train) == 6 and len(splits.test) == 3
    assert splits.train[0][0].suffix == ".JPEG" and splits.test.targets == [0, 1, 2]


def test_images_decode_in_worker_processes_unless_num_workers_is_set(tmp_path: Path) -> None:
    root = make_imagenet_folder(tmp_path / "imagenet", train_per_class=1, val_per_class=1)
    splits = load_splits(DataConfig(name="imagenet", root=root, image_size=224))
    transform = resize_crop_transform(224, splits.mean, splits.std, train=False)
    unset = eval_loader(splits.test, transform, DataConfig(name="imagenet", root=root, eval_batch_size=3))
    assert reads_files(splits.test) and unset.num_workers == default_workers() >= 1
    images, labels, skipped = next(iter(unset))
    assert images.shape == (3, 3, 224, 224) and labels.tolist() == [0, 1, 2] and not skipped
    explicit = eval_loader(splits.test, transform, DataConfig(name="imagenet", root=root, num_workers=0))
    assert explicit.num_workers == 0
    digits = load_splits(DataConfig(name="digits"))
    assert not reads_files(digits.train)
    assert eval_loader(digits.test, transform, DataConfig(name="digits")).num_workers == 0


def test_resize_crop_transform_is_resize_256_then_a_224_crop() -> None:
    from PIL import Image

    image = Image.new("RGB", (300, 400))
    for train in (True, False):
        assert resize_crop_transform(224, (0.5,) * 3, (0.5,) * 3, train)(image).shape == (3, 224, 224)
    names = [type(step).__name__ for step in resize_crop_transform(224, (0.5,) * 3, (0.5,) * 3, True).transforms]
    assert names[1:4] == ["Resize", "RandomCrop", "RandomHorizontalFlip"]
    assert resize_crop_transform(224, (0.5,) * 3, (0.5,) * 3, False).transforms[1].size == [256]


def test_a_broken_imagenet_layout_is_one_clear_line(tmp_path: Path) -> None:
    root = make_imagenet_folder(tmp_path / "imagenet", train_per_class=1, val_per_class=1)
    flat = tmp_path / "flat"
    (flat / "train" / WNIDS[0]).mkdir(parents=True)
    (flat / "train" / WNIDS[0] / "a.JPEG").write_bytes(
        (root / "train" / WNIDS[0]).joinpath(f"{WNIDS[0]}_0.JPEG").read_bytes()
    )
    (flat / "val").mkdir()
    (flat / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"")
    with pytest.raises(DataError, match=r"val holds 1 images and no class folders; sort them into val/<wnid>/"):
        load_splits(DataConfig(name="imagenet", root=flat))
    (root / "val" / "n99999999").mkdir()
    with pytest.raises(DataError, match="class folders that train/ lacks: n99999999"):
        load_splits(DataConfig(name="imagenet", root=root))
    with pytest.raises(DataError, match=r"imagenet: .*nothing/val is missing"):
        (tmp_path / "nothing" / "train").mkdir(parents=True)
        load_splits(DataConfig(name="imagenet", root=tmp_path / "nothing"))
