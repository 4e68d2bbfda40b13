"""benchmarks/seed_stats.py: sample std over seeds and the mean ± std cells of the benchmark tables."""

from __future__ import annotations

import math

import pytest

from benchmarks.seed_stats import mean_std, seed_std


def test_seed_std_is_the_sample_std_and_zero_for_one_seed() -> None:
    assert seed_std([0.5, 0.7]) == pytest.approx(math.sqrt(0.02))
    assert seed_std([0.9]) == 0.0


def test_mean_std_cells() -> None:
    assert mean_std([0.5, 0.7]) == "0.600 ± 0.141"
    assert mean_std([0.01, 0.03], signed=True) == "+0.020 ± 0.014"
    assert mean_std([-0.01]) == "-0.010 ± 0.000"
