"""scikit-learn logistic regression on frozen features: a cross-check of ``eval.linear_probe``.

The objective matches the torch probe's: features standardised with the fit set's statistics, multinomial logistic
regression with ``C = 1 / (wd * n)`` (sklearn minimises ``||W||^2 / 2 + C * sum_i CE_i``, the probe
``mean_i CE_i + wd / 2 * ||W||^2``). ``wd`` is chosen from the same grid on the same stratified split of the
training data, never on test (docs/methods/probes.md).

Example:
    python -m eval.sklearn_probe --features feats/ --compare --max-gap 0.02
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from eval import add_io_arguments, report, run, splits_from_args
from ssl_kd.errors import SslKdError
from ssl_kd.evaluation.feature_splits import FeatureSplits
from ssl_kd.evaluation.linear_probe import DEFAULT_GRID, best_weight_decay, linear_probe, stratified_split

VAL_FRACTION = 0.2
MAX_ITER = 1000


def fit_sklearn(x: np.ndarray, y: np.ndarray, weight_decay: float) -> tuple[StandardScaler, LogisticRegression]:
    """Standardise ``x`` and fit logistic regression with ``C = 1 / (weight_decay * n)``."""
    scaler = StandardScaler().fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=1.0 / (weight_decay * len(x)), max_iter=MAX_ITER)
        model.fit(scaler.transform(x), y)
    return scaler, model


def select_weight_decay_sklearn(x: np.ndarray, y: np.ndarray, grid: Sequence[float], seed: int) -> float:
    """The grid value with the best validation top-1 on a stratified split of the TRAINING data only."""
    fit_idx, val_idx = (i.numpy() for i in stratified_split(torch.from_numpy(y), VAL_FRACTION, _generator(seed)))
    scores = []
    for wd in grid:
        scaler, model = fit_sklearn(x[fit_idx], y[fit_idx], wd)
        scores.append(float((model.predict(scaler.transform(x[val_idx])) == y[val_idx]).mean()))
    return best_weight_decay(grid, scores)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sklearn_metrics(data: FeatureSplits, grid: Sequence[float], seed: int) -> dict[str, float]:
    """Test top-1/top-5 of the sklearn probe and the chosen ``weight_decay`` and ``C``."""
    train_x, train_y = data.train_x.double().numpy(), data.train_y.numpy()
    test_x, test_y = data.test_x.double().numpy(), data.test_y.numpy()
    wd = select_weight_decay_sklearn(train_x, train_y, grid, seed)
    scaler, model = fit_sklearn(train_x, train_y, wd)
    scores = model.predict_proba(scaler.transform(test_x))
    top5 = model.classes_[np.argsort(-scores, axis=1)[:, :5]]
    return {
        "sklearn_top1": float((model.classes_[scores.argmax(axis=1)] == test_y).mean()),
        "sklearn_top5": float((top5 == test_y[:, None]).any(axis=1).mean()),
        "sklearn_weight_decay": wd,
        "sklearn_C": 1.0 / (wd * len(train_x)),
    }


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``python -m eval.sklearn_probe``."""
    parser = argparse.ArgumentParser(
        prog="python -m eval.sklearn_probe",
        description="scikit-learn logistic regression on frozen features (C tuned on a split of train), "
        "optionally compared with the torch linear probe.",
    )
    add_io_arguments(parser)
    parser.add_argument("--grid", type=float, nargs="+", default=list(DEFAULT_GRID), help="weight decays to tune over")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split (default: 0)")
    parser.add_argument("--compare", action="store_true", help="also run eval.linear_probe's probe; report the gap")
    parser.add_argument("--max-gap", type=float, help="with --compare: exit 2 if |top-1 gap| exceeds this fraction")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, fit the sklearn probe (and the torch probe with ``--compare``) and report."""
    args = build_parser().parse_args(argv)
    data = splits_from_args(args)
    metrics = sklearn_metrics(data, args.grid, args.seed)
    if args.compare:
        probe = linear_probe(
            data.train_x, data.train_y, data.test_x, data.test_y, data.num_classes, args.grid, args.seed
        )
        metrics |= {"linear_top1": probe.top1, "linear_weight_decay": probe.weight_decay}
        metrics["top1_gap"] = abs(metrics["sklearn_top1"] - probe.top1)
    report(metrics, args.json)
    if args.compare and args.max_gap is not None and metrics["top1_gap"] > args.max_gap:
        raise SslKdError(f"sklearn and linear-probe top-1 differ by {metrics['top1_gap']:.4f} > {args.max_gap}")


if __name__ == "__main__":
    sys.exit(run(main))
