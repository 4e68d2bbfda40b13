"""Command-line probes on cached features or directly on a trained stage.

Features come from one of: ``--train X.npz --test Y.npz`` (``ssl_kd.evaluation.save_features`` files, e.g. the
probe stage's cache), ``--features DIR [--layer NAME]`` (``.npy`` shards written by ``ssl-kd extract``) or
``--checkpoint STAGE_DIR [--data NAME]`` (features extracted now from the stage's ``model.pt``).

Entry points:
    python -m eval.linear_probe --train TRAIN.npz --test TEST.npz [--shots 1 5 10 --draws 5 --seed 0]
        Full-label linear probe (weight decay tuned on a split of train) and low-shot probes.
    python -m eval.knn --train TRAIN.npz --test TEST.npz [--k 20 --temperature 0.07 --backend auto]
        Weighted cosine kNN (docs/methods/probes.md).
    python -m eval.sklearn_probe --features feats/ [--compare]
        scikit-learn logistic regression (C chosen on the same split of train), a cross-check of the linear probe.

Both print a metric table, write it as JSON with ``--json OUT``, and exit 2 with one line on stderr for a
missing or unusable file or a bad setting.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ssl_kd.errors import ConfigError, SslKdError
from ssl_kd.evaluation.feature_splits import FeatureSplits, load_feature_splits


def add_io_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the feature sources (see the module docstring), ``--num-classes`` and ``--json`` to ``parser``."""
    parser.add_argument("--train", type=Path, help="training feature file (.npz: features, labels)")
    parser.add_argument("--test", type=Path, help="test feature file (.npz: features, labels)")
    parser.add_argument("--features", type=Path, metavar="DIR", help="shard folder written by ssl-kd extract")
    parser.add_argument("--checkpoint", type=Path, metavar="STAGE_DIR", help="extract features from this stage")
    parser.add_argument("--layer", default="features", help="layer of --features / --checkpoint (default: features)")
    parser.add_argument("--pool-size", type=int, default=1, help="--checkpoint: pool 4-D maps to this size")
    parser.add_argument("--data", help="--checkpoint: dataset registry key (default: the model's dataset)")
    parser.add_argument("--data-root", type=Path, help="--checkpoint: local dataset path")
    parser.add_argument("--num-classes", type=int, help="number of classes (default: largest label + 1)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the metrics to this JSON file")


def splits_from_args(args: argparse.Namespace) -> FeatureSplits:
    """Train and test features from the one source given on the command line
    (:func:`ssl_kd.evaluation.feature_splits.load_feature_splits`).

    Raises:
        ConfigError: None or several of ``--train/--test``, ``--features`` and ``--checkpoint`` were given.
    """
    sources = {"--train/--test": args.train or args.test, "--features": args.features, "--checkpoint": args.checkpoint}
    given = [name for name, value in sources.items() if value]
    if len(given) != 1 or (args.train is None) != (args.test is None):
        raise ConfigError(
            "give exactly one feature source: --train X.npz --test Y.npz, --features DIR or --checkpoint "
            f"STAGE_DIR (got: {', '.join(given) or 'none'})"
        )
    return load_feature_splits(
        args.train,
        args.test,
        shards=args.features,
        stage_dir=args.checkpoint,
        layer=args.layer,
        pool_size=args.pool_size,
        data=args.data,
        data_root=args.data_root,
        num_classes=args.num_classes,
    )


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
