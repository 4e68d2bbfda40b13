"""The DualDE benchmark pipeline keeps the shipped pipeline's stages, and its sweep's runs group by graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.dualde import runs_by_graph
from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import fingerprints

from conftest import REPO


def test_benchmark_pipeline_has_the_shipped_stages_unchanged() -> None:
    shipped = fingerprints(load_pipeline(REPO / "pipelines" / "dualde_umls.yaml"))
    benchmark = fingerprints(load_pipeline(REPO / "benchmarks" / "dualde.yaml"))
    assert {name: benchmark[name] for name in shipped} == shipped
    assert set(benchmark) - set(shipped) == {"plain_kd", "s1_half", "both_half"}


def test_runs_group_by_the_data_name_override_and_skip_failed_runs(tmp_path: Path) -> None:
    def run(seed: int, overrides: list[str], status: str = "complete") -> dict:
        return {"seed": seed, "overrides": overrides, "status": status, "results": {"seed": seed}}

    runs = [
        run(1, ["data.name=kinships"]),
        run(0, ["data.name=kinships"]),
        run(0, []),
        run(1, [], status="failed"),
    ]
    summary = {"pipeline": str(REPO / "benchmarks" / "dualde.yaml"), "runs": runs}
    (tmp_path / "sweep.json").write_text(json.dumps(summary))
    graphs = runs_by_graph(tmp_path)
    assert {kg: list(by_seed) for kg, by_seed in graphs.items()} == {"kinships": [0, 1], "umls": [0]}


def test_a_sweep_with_no_complete_run_is_one_clear_error(tmp_path: Path) -> None:
    summary = {"pipeline": str(REPO / "benchmarks" / "dualde.yaml"), "runs": []}
    (tmp_path / "sweep.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit, match="no complete run"):
        runs_by_graph(tmp_path)
