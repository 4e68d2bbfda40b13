"""Statistics over seeds: mean, sample std (ddof=1), paired differences and win / loss / tie counts."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean."""
    return statistics.fmean(values)


def sample_std(values: Sequence[float]) -> float | None:
    """The sample standard deviation (ddof=1); None for fewer than two values."""
    return statistics.stdev(values) if len(values) > 1 else None


def format_mean_std(centre: float, spread: float | None, signed: bool = False) -> str:
    """``0.600 ± 0.141`` (three decimals; ``signed``: ``+0.020 ± 0.014``); ``0.600`` when ``spread`` is None."""
    text = f"{centre:+.3f}" if signed else f"{centre:.3f}"
    return text if spread is None else f"{text} ± {spread:.3f}"


def mean_std_cell(values: Sequence[float], signed: bool = False, single_std: float | None = None) -> str:
    """:func:`format_mean_std` of ``values``; one value has no std (``single_std`` is written in its place)."""
    spread = sample_std(values)
    return format_mean_std(mean(values), single_std if spread is None else spread, signed)


def paired_differences(values: Mapping[int, float], baseline: Mapping[int, float]) -> dict[int, float]:
    """``values[s] - baseline[s]`` for every seed ``s`` both have, in ``values``' order."""
    return {seed: value - baseline[seed] for seed, value in values.items() if seed in baseline}


def tally(differences: Sequence[float]) -> tuple[int, int, int]:
    """``(wins, losses, ties)``: differences above, below and equal to zero."""
    wins = sum(1 for d in differences if d > 0)
    losses = sum(1 for d in differences if d < 0)
    return wins, losses, len(differences) - wins - losses
