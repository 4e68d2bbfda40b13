"""Weighted cosine kNN on cached features (docs/methods/probes.md: score(c) = sum_{j in N_k} exp(s_j/T) 1[y_j = c]).

Example:
    python -m eval.knn --train feats/train.npz --test feats/test.npz --k 20 --temperature 0.07 --backend auto
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eval import add_io_arguments, report, run, splits_from_args
from ssl_kd.evaluation.knn import BACKENDS
from ssl_kd.evaluation.protocol import ProbeProtocol, knn_metrics


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m eval.knn``."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.knn",
        description="Classify each test feature by the exp(s/T)-weighted vote of its k most cosine-similar "
        "training features; report top-1 on test.",
    )
    add_io_arguments(parser)
    parser.add_argument("--k", type=int, default=20, help="neighbours (default: 20; clamped to the bank size)")
    parser.add_argument("--temperature", type=float, default=0.07, help="vote temperature T (default: 0.07)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="search backend (default: auto = faiss if installed)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, run kNN and report top-1."""
    args = build_parser().parse_args(argv)
    protocol = ProbeProtocol(knn_k=args.k, knn_temperature=args.temperature, knn_backend=args.backend)
    data = splits_from_args(args)
    metrics = knn_metrics(data.train_x, data.train_y, data.test_x, data.test_y, data.num_classes, protocol)
    report(metrics, args.json)


if __name__ == "__main__":
    sys.exit(run(main))
