"""The HTD benchmark pipeline keeps the shipped stages, and a sweep run's stages read with seconds and epochs."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.htd import CONVERGED, LONG, htd_ftd_pairs, rows, stage_results
from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import fingerprints

from conftest import REPO


def test_benchmark_pipeline_has_the_shipped_stages_unchanged_then_the_long_regime() -> None:
    shipped = fingerprints(load_pipeline(REPO / "pipelines" / "htd_ml100k.yaml"))
    benchmark = load_pipeline(REPO / "benchmarks" / "htd.yaml")
    assert {name: fingerprints(benchmark)[name] for name in shipped} == shipped
    assert benchmark.stage_names[: len(shipped)] == list(shipped)  # first: the shipped rows finish first
    assert benchmark.stage_names[len(shipped) :] == [CONVERGED, *LONG.values()]
    assert {stage for _, stage, _ in rows()} == set(benchmark.stage_names)
    for _, htd, ftd in htd_ftd_pairs():
        assert {htd, ftd} <= set(benchmark.stage_names)
    assert {benchmark.stage(name).epochs for name in (CONVERGED, *LONG.values())} == {100}


def test_stage_results_add_each_stage_s_seconds_and_last_epoch(tmp_path: Path) -> None:
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "history.json").write_text(json.dumps([{"epoch": 5}, {"epoch": 10}]))
    record = {
        "log": str(tmp_path / "sweep.log"),
        "results": {"teacher": {"test_recall_at_50": 0.5}},
        "stages": {"teacher": {"fingerprint": "f", "seconds": 12.5}},
    }
    assert stage_results(record) == {"teacher": {"test_recall_at_50": 0.5, "seconds": 12.5, "epochs": 10}}
