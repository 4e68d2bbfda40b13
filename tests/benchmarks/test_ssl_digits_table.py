"""The SSL-digits benchmark table is formatted from a sweep's per-seed results, with hand-checked cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import ssl_digits


def _results(value: float) -> dict[str, dict[str, float]]:
    """Every probe stage with every column's metric at ``value`` (raw pixels at ``value / 2``)."""
    results = {}
    for stage, prefix in ssl_digits.ROWS.values():
        metrics = results.setdefault(stage, {})
        for metric in ssl_digits.COLUMNS.values():
            metrics[prefix + metric] = value / 2 if prefix else value
    return results


def _sweep_dir(tmp_path: Path, runs: list[dict]) -> Path:
    (tmp_path / "sweep.json").write_text(json.dumps({"runs": runs}))
    return tmp_path


def test_cells_are_mean_and_sample_std_over_complete_runs(tmp_path: Path) -> None:
    runs = [
        {"point": "default", "seed": 0, "status": "complete", "results": _results(0.8)},
        {"point": "default", "seed": 1, "status": "complete", "results": _results(0.6)},
        {"point": "default", "seed": 2, "status": "failed", "results": {}},
    ]
    results, seeds = ssl_digits.seed_results(_sweep_dir(tmp_path, runs))
    assert seeds == [0, 1]
    table, means = ssl_digits.markdown_table(results)
    # mean 0.7, sample std sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.141; raw pixels half of both
    assert "| AlexNet SEED | 0.700 ± 0.141 |" in table
    assert "| raw pixels (floor) | 0.350 ± 0.071 |" in table
    assert means["AlexNet MoCo v2"]["5-shot"] == pytest.approx(0.7)


def test_a_sweep_over_several_grid_points_is_refused(tmp_path: Path) -> None:
    runs = [{"point": point, "seed": 0, "status": "complete", "results": _results(0.5)} for point in ("a", "b")]
    with pytest.raises(SystemExit, match="one grid point"):
        ssl_digits.seed_results(_sweep_dir(tmp_path, runs))


def test_gap_closure_is_the_fraction_of_the_moco_to_supervised_gap() -> None:
    means = {
        "AlexNet MoCo v2": {"5-shot": 0.90},
        "AlexNet supervised (upper bound)": {"5-shot": 1.00},
        "AlexNet ReKD (supcon)": {"5-shot": 0.93},
        "AlexNet ReKD (kl)": {"5-shot": 0.88},
    }
    assert ssl_digits.gap_closure(means) == [
        "Gap closure (ReKD supcon - MoCo) / (supervised - MoCo), 5-shot: 0.30",
        "Gap closure (ReKD kl - MoCo) / (supervised - MoCo), 5-shot: -0.20",
    ]


def test_a_sweep_with_no_complete_run_is_one_clear_error(tmp_path: Path) -> None:
    failed = {"point": "default", "seed": 0, "status": "failed", "results": {}}
    with pytest.raises(SystemExit, match="no complete run"):
        ssl_digits.seed_results(_sweep_dir(tmp_path, [failed]))
