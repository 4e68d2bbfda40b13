"""Summaries over seeds shared by the benchmarks: sample std (0 for one seed) and ``mean ± std`` cells."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def seed_std(values: Sequence[float]) -> float:
    """Sample standard deviation over seeds; 0 for a single seed."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def mean_std(values: Sequence[float], signed: bool = False) -> str:
    """``0.933 ± 0.014`` (three decimals); ``signed`` writes the mean with its sign, for gains (``+0.019 ± 0.008``)."""
    mean = f"{statistics.mean(values):+.3f}" if signed else f"{statistics.mean(values):.3f}"
    return f"{mean} ± {seed_std(values):.3f}"
