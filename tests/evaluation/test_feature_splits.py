"""Loading train and test features for the probes (the library side of ``eval/``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_kd.errors import ConfigError, DataError
from ssl_kd.evaluation.feature_splits import load_feature_splits
from ssl_kd.evaluation.features import save_features


def write(folder: Path, dims: tuple[int, int] = (4, 4)) -> tuple[Path, Path]:
    paths = folder / "train.npz", folder / "test.npz"
    for path, dim, labels in zip(paths, dims, ([0, 1, 2], [2, 0]), strict=True):
        save_features(path, torch.randn(len(labels), dim), torch.tensor(labels))
    return paths


def test_two_feature_files_load_with_the_labels_number_of_classes(tmp_path: Path) -> None:
    splits = load_feature_splits(*write(tmp_path))
    assert splits.train_x.shape == (3, 4) and splits.test_y.tolist() == [2, 0] and splits.num_classes == 3
    assert load_feature_splits(*write(tmp_path), num_classes=5).num_classes == 5


def test_splits_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="feature shapes do not match"):
        load_feature_splits(*write(tmp_path, dims=(4, 5)))
    with pytest.raises(ConfigError, match="too small: the labels need 3"):
        load_feature_splits(*write(tmp_path), num_classes=2)
    with pytest.raises(DataError, match="feature file not found"):
        load_feature_splits(tmp_path / "missing.npz", tmp_path / "test.npz")


def test_exactly_one_source(tmp_path: Path) -> None:
    train, _ = write(tmp_path)
    for kwargs in ({}, {"train": train}, {"shards": tmp_path, "stage_dir": tmp_path}):
        with pytest.raises(ConfigError, match="exactly one feature source"):
            load_feature_splits(**kwargs)
