"""Aggregation against hand-computed values: sample std (ddof=1), paired differences, wins / losses / ties."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from ssl_kd.errors import ConfigError
from ssl_kd.sweep import stats
from ssl_kd.sweep.aggregate import aggregate, read_rows, write_outputs

TITLES = {"test_top1": "test top-1", "knn_top1": "kNN"}


def _run(point: str, seed: int, results: dict, status: str = "complete") -> dict:
    return {
        "name": f"{point}/seed={seed}",
        "point": point,
        "seed": seed,
        "status": status,
        "results": results,
        "returncode": 0 if status == "complete" else 1,
        "log": f"{point}/seed={seed}/sweep.log",
        "log_tail": "boom",
    }


# two points x three seeds; stage "alone" is the baseline stage of "kd"
RUNS = [
    _run("tau=2", 0, {"alone": {"test_top1": 0.50}, "kd": {"test_top1": 0.60, "knn_top1": 0.4}}),
    _run("tau=2", 1, {"alone": {"test_top1": 0.70}, "kd": {"test_top1": 0.65, "knn_top1": 0.4}}),
    _run("tau=2", 2, {"alone": {"test_top1": 0.90}, "kd": {"test_top1": 0.90, "knn_top1": 0.4}}),
    _run("tau=4", 0, {"alone": {"test_top1": 0.50}, "kd": {"test_top1": 0.70}}),
    _run("tau=4", 1, {"alone": {"test_top1": 0.70}, "kd": {"test_top1": 0.80}}),
    _run("tau=4", 2, {}, status="failed"),
]


def test_stats_helpers() -> None:
    assert stats.mean([0.5, 0.7, 0.9]) == pytest.approx(0.7)
    assert stats.sample_std([0.5, 0.7, 0.9]) == pytest.approx(0.2)  # sqrt((0.04 + 0 + 0.04) / 2)
    assert stats.sample_std([0.9]) is None
    assert stats.paired_differences({0: 0.6, 1: 0.65, 2: 0.9}, {0: 0.5, 1: 0.7}) == pytest.approx({0: 0.1, 1: -0.05})
    assert stats.tally([0.1, -0.05, 0.0, 0.2]) == (2, 1, 1)
    assert stats.mean_std_cell([0.5, 0.7]) == "0.600 ± 0.141"
    assert stats.mean_std_cell([0.6]) == "0.600"
    assert stats.mean_std_cell([0.6], single_std=0.0) == "0.600 ± 0.000"


def test_mean_std_and_per_seed_values_skip_failed_runs() -> None:
    rows = {(r.point, r.stage, r.metric): r for r in aggregate(RUNS, TITLES)}
    kd = rows["tau=2", "kd", "test_top1"]
    assert kd.values == {0: 0.60, 1: 0.65, 2: 0.90}
    assert kd.mean == pytest.approx(0.7166666666666667)  # 2.15 / 3
    # deviations -0.11667, -0.06667, +0.18333: squares sum 0.051667; / 2 -> 0.025833
    assert kd.std == pytest.approx(math.sqrt(0.0258333333))
    assert rows["tau=4", "kd", "test_top1"].values == {0: 0.70, 1: 0.80}  # seed 2 failed
    assert rows["tau=2", "kd", "knn_top1"].std == pytest.approx(0.0)
    assert ("tau=4", "kd", "knn_top1") not in rows
    assert list(rows)[:3] == [
        ("tau=2", "alone", "test_top1"),
        ("tau=2", "kd", "test_top1"),
        ("tau=2", "kd", "knn_top1"),
    ]


def test_baseline_stage_pairs_within_each_run() -> None:
    rows = {(r.point, r.stage, r.metric): r for r in aggregate(RUNS, TITLES, baseline="alone")}
    kd = rows["tau=2", "kd", "test_top1"]
    assert kd.baseline == "stage alone"
    assert kd.differences == pytest.approx({0: 0.10, 1: -0.05, 2: 0.0})
    assert kd.diff_mean == pytest.approx(0.05 / 3)
    # deviations 0.08333, -0.06667, -0.01667: squares sum 0.011667; / 2 -> 0.0058333
    assert kd.diff_std == pytest.approx(math.sqrt(0.00583333333))
    assert (kd.wins, kd.losses, kd.ties) == (1, 1, 1)
    assert rows["tau=2", "alone", "test_top1"].baseline is None
    assert rows["tau=2", "kd", "knn_top1"].baseline is None  # the baseline stage has no kNN
    tau4 = rows["tau=4", "kd", "test_top1"]
    assert tau4.differences == pytest.approx({0: 0.2, 1: 0.1}) and (tau4.wins, tau4.losses) == (2, 0)


def test_baseline_point_pairs_same_seed_and_stage() -> None:
    rows = {(r.point, r.stage, r.metric): r for r in aggregate(RUNS, TITLES, baseline="tau=2")}
    kd = rows["tau=4", "kd", "test_top1"]
    assert kd.baseline == "point tau=2"
    assert kd.differences == pytest.approx({0: 0.10, 1: 0.15})
    assert kd.diff_mean == pytest.approx(0.125)
    assert kd.diff_std == pytest.approx(math.sqrt(0.00125))  # (0.025^2 * 2) / 1
    assert rows["tau=4", "alone", "test_top1"].differences == pytest.approx({0: 0.0, 1: 0.0})
    assert (rows["tau=4", "alone", "test_top1"].ties) == 2
    assert rows["tau=2", "kd", "test_top1"].baseline is None


def test_unknown_baseline_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'alon' is neither a stage nor a grid point \(did you mean 'alone'\?\)"):
        aggregate(RUNS, TITLES, baseline="alon")


def test_outputs_hold_the_same_numbers(tmp_path: Path) -> None:
    rows = aggregate(RUNS, TITLES, baseline="alone")
    summary = {
        "pipeline": "p.yaml",
        "name": "p",
        "seeds": [0, 1, 2],
        "grid": {"distill.tau": ["2", "4"]},
        "overrides": [],
        "runs": RUNS,
    }
    paths = write_outputs(tmp_path, summary, rows)
    _, back = read_rows(tmp_path)
    assert back == rows
    with paths["sweep.csv"].open() as file:
        table = list(csv.DictReader(file))
    kd = next(r for r in table if (r["point"], r["stage"], r["metric"]) == ("tau=2", "kd", "test_top1"))
    assert (kd["n"], kd["seed=1"], kd["wins"], kd["losses"], kd["ties"]) == ("3", "0.65", "1", "1", "1")
    assert float(kd["diff_mean"]) == pytest.approx(0.05 / 3)
    text = paths["sweep.md"].read_text()
    assert (
        "| tau=2 | kd | test top-1 | 0.717 ± 0.161 | 0.600 | 0.650 | 0.900 | stage alone | +0.017 ± 0.076 | 1/1/1 |"
        in text
    )
    assert "FAILED tau=4/seed=2: exit code 1" in text and "boom" in text
