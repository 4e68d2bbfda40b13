"""Summaries over seeds shared by the benchmarks: sample std (0 for one seed) and ``mean ± std`` cells.

The statistics are the library's (``ssl_kd.sweep.stats``, also behind ``ssl-kd sweep``); the benchmark tables write
``± 0.000`` for a single seed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ssl_kd.sweep.stats import mean_std_cell, sample_std


def seed_std(values: Sequence[float]) -> float:
    """Sample standard deviation over seeds; 0 for a single seed."""
    spread = sample_std(values)
    return 0.0 if spread is None else spread


def mean_std(values: Sequence[float], signed: bool = False) -> str:
    """``0.933 ± 0.014`` (three decimals); ``signed`` writes the mean with its sign, for gains (``+0.019 ± 0.008``)."""
    return mean_std_cell(values, signed, single_std=0.0)
