"""Datasets: the fixed digits split, ImageFolder with corrupt files, CIFAR pickles, and seeded loaders."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_kd.config.schema import DataConfig
from ssl_kd.data import eval_loader, eval_transform, load_splits, train_loader, train_transform
from ssl_kd.data.base import UNLABELLED
from ssl_kd.data.loaders import ResumableBatchSampler
from ssl_kd.errors import DataError


def test_digits_split_is_fixed_and_documented() -> None:
    splits = load_splits(DataConfig())
    assert (len(splits.train), len(splits.test), splits.num_classes) == (1347, 450, 10)
    image, label = splits.train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8 and 0 <= label < 10
    again = load_splits(DataConfig())
    assert torch.equal(splits.test.images, again.test.images)
    assert min(np.bincount(splits.test.targets)) >= 43  # stratified: about 45 per class


def test_train_per_class_subset() -> None:
    splits = load_splits(DataConfig(train_per_class=4, subset_seed=1))
    assert np.bincount(splits.train.targets).tolist() == [4] * 10
    other = load_splits(DataConfig(train_per_class=4, subset_seed=2))
    assert splits.train.indices != other.train.indices


def test_labelled_per_class_keeps_every_sample_and_the_train_per_class_labels() -> None:
    full = load_splits(DataConfig())
    semi = load_splits(DataConfig(labelled_per_class=4, subset_seed=1))
    subset = load_splits(DataConfig(train_per_class=4, subset_seed=1))
    assert len(semi.train) == len(full.train)
    labelled = [i for i, label in enumerate(semi.train.targets) if label != UNLABELLED]
    assert labelled == subset.train.indices  # the same draw: a teacher adapted on it saw exactly these labels
    assert [semi.train.targets[i] for i in labelled] == [full.train.targets[i] for i in labelled]
    assert semi.train[labelled[0]][1] == full.train.targets[labelled[0]]
    unlabelled = next(i for i, label in enumerate(semi.train.targets) if label == UNLABELLED)
    image, label = semi.train[unlabelled]
    assert label == UNLABELLED and torch.equal(image, full.train[unlabelled][0])
    assert semi.test.targets == full.test.targets  # the test split keeps its labels


def test_labelled_per_class_is_exclusive_with_train_per_class_and_left_out_of_dumps_when_unset() -> None:
    with pytest.raises(ValueError, match="not both"):
        DataConfig(train_per_class=4, labelled_per_class=2)
    assert "labelled_per_class" not in DataConfig().model_dump()  # fingerprints of earlier runs stay valid
    assert DataConfig(labelled_per_class=2).model_dump()["labelled_per_class"] == 2


def _write_folder(root: Path) -> None:
    for split in ("train", "test"):
        for label, colour in (("cat", 40), ("dog", 200)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((20, 24, 3), colour + i, dtype=np.uint8)).save(folder / f"{i}.png")
    (root / "train" / "dog" / "broken.png").write_bytes(b"not a png at all")


def test_image_folder_skips_and_names_corrupt_files(tmp_path: Path) -> None:
    _write_folder(tmp_path)
    cfg = DataConfig(name="image_folder", root=tmp_path, image_size=16, batch_size=7, augment="standard")
    splits = load_splits(cfg)
    assert splits.class_names == ["cat", "dog"] and len(splits.train) == 7
    loader, _ = train_loader(splits.train, train_transform(16, splits.mean, splits.std, "standard"), cfg, seed=0)
    (images, labels), indices, skipped = next(iter(loader))
    assert images.shape == (6, 3, 16, 16) and labels.shape == (6,)
    assert len(skipped) == 1 and "broken.png" in skipped[0]
    assert sorted(indices.tolist()) == sorted(set(range(7)) - {_broken_index(splits.train)})


def _broken_index(source) -> int:
    return next(i for i in range(len(source)) if "broken" in str(source[i][0]))


def test_image_folder_without_splits_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    with pytest.raises(DataError, match="needs 'train/' and 'test/'"):
        load_splits(DataConfig(name="image_folder", root=tmp_path))


def _write_cifar10(root: Path) -> None:
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for name, count in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 5)]:
        batch = {
            b"data": rng.integers(0, 255, (count, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(count)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))


def test_cifar10_pickle_layout(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    splits = load_splits(DataConfig(name="cifar10", root=tmp_path))
    assert (len(splits.train), len(splits.test)) == (20, 5)
    assert splits.train[0][0].shape == (3, 32, 32) and splits.class_names[3] == "c3"


def test_cifar_missing_files_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="python pickle files"):
        load_splits(DataConfig(name="cifar100", root=tmp_path))


def test_sampler_resumes_mid_epoch_with_same_batches() -> None:
    sampler = ResumableBatchSampler(num_samples=50, batch_size=8, seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start_batch=4)
    assert list(sampler) == full[4:] and len(sampler) == len(full) - 4
    sampler.set_epoch(3)
    assert list(sampler) != full


def test_sampler_shards_disjointly_across_ranks() -> None:
    shards = []
    for rank in range(2):
        sampler = ResumableBatchSampler(num_samples=40, batch_size=10, seed=0, rank=rank, world_size=2)
        sampler.set_epoch(0)
        shards.append({index for batch in sampler for index, _ in batch})
    assert not shards[0] & shards[1] and len(shards[0] | shards[1]) == 40


def test_ranks_together_see_the_single_process_batches() -> None:
    single = ResumableBatchSampler(num_samples=40, batch_size=8, seed=3)
    ranks = [ResumableBatchSampler(num_samples=40, batch_size=8, seed=3, rank=r, world_size=2) for r in range(2)]
    for sampler in (single, *ranks):
        sampler.set_epoch(1)
    assert ranks[0].batch_size == 4 and ranks[0].batches_per_epoch == single.batches_per_epoch
    for whole, part0, part1 in zip(single, *ranks, strict=True):
        assert sorted(whole) == sorted(part0 + part1)
    with pytest.raises(DataError, match="divisible"):
        ResumableBatchSampler(num_samples=40, batch_size=7, seed=0, rank=0, world_size=2)


def test_augmentation_depends_only_on_sample_seed() -> None:
    cfg = DataConfig(train_per_class=2, batch_size=20)
    splits = load_splits(cfg)
    transform = train_transform(32, splits.mean, splits.std, "light")
    first = [next(iter(train_loader(splits.train, transform, cfg, seed=5)[0])).inputs[0] for _ in range(2)]
    torch.manual_seed(123)  # the global RNG must not matter
    worker = train_loader(splits.train, transform, cfg.model_copy(update={"num_workers": 1}), seed=5)[0]
    assert torch.equal(first[0], first[1]) and torch.equal(first[0], next(iter(worker)).inputs[0])


def test_eval_loader_is_ordered_and_unaugmented() -> None:
    cfg = DataConfig()
    splits = load_splits(cfg)
    loader = eval_loader(splits.test, eval_transform(32, splits.mean, splits.std), cfg)
    labels = torch.cat([batch[1] for batch in loader])
    assert labels.tolist() == list(splits.test.targets)
