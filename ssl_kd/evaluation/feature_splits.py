"""Train and test features for the probes, from one source: two feature files, a shard folder or a stage's model.

The sources are the ``.npz`` files of :func:`~ssl_kd.evaluation.features.save_features` (e.g. the probe stage's
cache), the ``.npy`` shards written by ``ssl-kd extract`` (:mod:`ssl_kd.evaluation.shards`), or a finished stage
folder whose ``model.pt`` is run now (:mod:`ssl_kd.evaluation.extract`). The ``eval/`` command line is a thin layer
over :func:`load_feature_splits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from ssl_kd.errors import ConfigError, DataError
from ssl_kd.evaluation.features import load_features
from ssl_kd.evaluation.shards import load_shards


@dataclass
class FeatureSplits:
    """Train and test features and labels, and the number of classes."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int


def load_feature_splits(
    train: Path | None = None,
    test: Path | None = None,
    *,
    shards: Path | None = None,
    stage_dir: Path | None = None,
    layer: str = "features",
    pool_size: int = 1,
    data: str | None = None,
    data_root: Path | None = None,
    num_classes: int | None = None,
) -> FeatureSplits:
    """Train and test features from exactly one source, checked to fit together.

    Args:
        train, test: two feature files (``.npz``: ``features``, ``labels``), given together.
        shards: a shard folder written by ``ssl-kd extract`` (its ``train`` and ``test`` splits of ``layer``).
        stage_dir: a finished stage whose model's ``layer`` is extracted now (4-D maps pooled to ``pool_size``), on
            dataset ``data`` (registry key; default: the model's dataset) read from ``data_root``.
        layer: the tap of ``shards`` or ``stage_dir``.
        num_classes: number of classes (default: the stage's, or the largest label + 1).

    Raises:
        ConfigError: None or several sources were given, or ``num_classes`` is smaller than the labels require.
        DataError: A file is missing or unusable, or the feature dimensions differ.
    """
    sources = {"train/test": train or test, "shards": shards, "stage_dir": stage_dir}
    given = [name for name, value in sources.items() if value]
    if len(given) != 1 or (train is None) != (test is None):
        raise ConfigError(
            "give exactly one feature source: train and test files, shards or stage_dir "
            f"(got: {', '.join(given) or 'none'})"
        )
    if shards:
        (train_x, train_y, _), (test_x, test_y, _) = (load_shards(shards, s, layer) for s in ("train", "test"))
        return check_feature_splits(train_x, train_y, test_x, test_y, num_classes, str(shards))
    if stage_dir:
        return _stage_splits(stage_dir, layer, pool_size, data, data_root, num_classes)
    train_x, train_y = load_features(train)
    test_x, test_y = load_features(test)
    return check_feature_splits(train_x, train_y, test_x, test_y, num_classes, f"{train}, {test}")


def _stage_splits(
    stage_dir: Path, layer: str, pool_size: int, data: str | None, data_root: Path | None, num_classes: int | None
) -> FeatureSplits:
    # Imported here: extraction loads the data package and the model, which file and shard sources do not need.
    from ssl_kd.evaluation.extract import stage_data, stage_features
    from ssl_kd.export import load_stage

    dataset = stage_data(load_stage(stage_dir), data, data_root)
    features, stage_classes = stage_features(stage_dir, dataset, layer, pool_size)
    (train_x, train_y), (test_x, test_y) = features["train"], features["test"]
    return check_feature_splits(train_x, train_y, test_x, test_y, num_classes or stage_classes, str(stage_dir))


def check_feature_splits(
    train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int | None, where: str
) -> FeatureSplits:
    """Check that train and test features (read from ``where``) fit together and bundle them.

    Raises:
        DataError: The feature dimensions differ.
        ConfigError: ``num_classes`` is smaller than the labels require.
    """
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise DataError(f"feature shapes do not match in {where}: {tuple(train_x.shape)}, {tuple(test_x.shape)}")
    needed = int(max(train_y.max(), test_y.max())) + 1
    if num_classes is not None and num_classes < needed:
        raise ConfigError(f"num_classes {num_classes} is too small: the labels need {needed}")
    return FeatureSplits(train_x, train_y, test_x, test_y, num_classes or needed)
