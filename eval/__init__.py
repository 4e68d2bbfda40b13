"""Command-line probes on cached ``.npz`` feature files (written by ``ssl_kd.evaluation.save_features``).

Entry points:
    python -m eval.linear_probe --train TRAIN.npz --test TEST.npz [--shots 1 5 10 --draws 5 --seed 0]
        Full-label linear probe (weight decay tuned on a split of train) and low-shot probes.
    python -m eval.knn --train TRAIN.npz --test TEST.npz [--k 20 --temperature 0.07 --backend auto]
        Weighted cosine kNN (METHODS.md §17).

Both print a metric table, write it as JSON with ``--json OUT``, and exit 2 with one line on stderr for a
missing or unusable file or a bad setting.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from ssl_kd.errors import ConfigError, DataError, SslKdError
from ssl_kd.evaluation.features import load_features


@dataclass
class FeatureSplits:
    """Train and test features and labels read from two feature files."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int


def add_io_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--train``, ``--test``, ``--num-classes`` and ``--json`` to ``parser``."""
    parser.add_argument("--train", type=Path, required=True, help="training feature file (.npz: features, labels)")
    parser.add_argument("--test", type=Path, required=True, help="test feature file (.npz: features, labels)")
    parser.add_argument("--num-classes", type=int, help="number of classes (default: largest label + 1)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the metrics to this JSON file")


def load_splits(train: Path, test: Path, num_classes: int | None) -> FeatureSplits:
    """Load both feature files and check that they fit together.

    Raises:
        DataError: A file is missing or unusable, or the feature dimensions differ.
        ConfigError: ``num_classes`` is smaller than the labels require.
    """
    train_x, train_y = load_features(train)
    test_x, test_y = load_features(test)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise DataError(f"feature shapes do not match: {train} {tuple(train_x.shape)}, {test} {tuple(test_x.shape)}")
    needed = int(max(train_y.max(), test_y.max())) + 1
    if num_classes is not None and num_classes < needed:
        raise ConfigError(f"--num-classes {num_classes} is too small: the labels need {needed}")
    return FeatureSplits(train_x, train_y, test_x, test_y, num_classes or needed)


def report(metrics: dict[str, float], json_path: Path | None) -> None:
    """Print ``metrics`` as a two-column table and optionally write them to ``json_path``."""
    width = max(map(len, metrics))
    print(f"{'metric':<{width}}  value")
    for name, value in metrics.items():
        print(f"{name:<{width}}  {value:.4g}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(metrics, indent=2) + "\n")


def run(main: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None = None) -> int:
    """Call ``main(argv)``; report a user-facing error as one line on stderr with exit status 2."""
    try:
        main(argv)
    except SslKdError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
