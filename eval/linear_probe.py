"""Linear and low-shot probes on cached features (docs/methods/probes.md; digits saturate full-label probes).

Example:
    python -m eval.linear_probe --train feats/train.npz --test feats/test.npz --shots 1 5 10 --json out.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from eval import add_io_arguments, report, run, splits_from_args
from ssl_kd.evaluation.linear_probe import DEFAULT_GRID
from ssl_kd.evaluation.protocol import ProbeProtocol, linear_metrics


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m eval.linear_probe``."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.linear_probe",
        description="Multinomial logistic-regression probe on frozen features: weight decay tuned on a "
        "stratified split of train, refit on all of train, top-1/top-5 on test; then k-shot probes averaged "
        "over random draws.",
    )
    add_io_arguments(parser)
    parser.add_argument(
        "--shots",
        type=int,
        nargs="*",
        default=[1, 5, 10],
        help="labelled images per class for low-shot probes (default: 1 5 10; give no value to skip them)",
    )
    parser.add_argument("--draws", type=int, default=5, help="random k-shot draws per shot count (default: 5)")
    parser.add_argument("--grid", type=float, nargs="+", default=list(DEFAULT_GRID), help="weight decays to tune over")
    parser.add_argument("--seed", type=int, default=0, help="seed of validation splits and draws (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, run the probes and report the metrics."""
    args = build_parser().parse_args(argv)
    protocol = ProbeProtocol(shots=args.shots, draws=args.draws, weight_decay_grid=args.grid, seed=args.seed)
    data = splits_from_args(args)
    metrics = linear_metrics(data.train_x, data.train_y, data.test_x, data.test_y, data.num_classes, protocol)
    report(metrics, args.json)


if __name__ == "__main__":
    sys.exit(run(main))
