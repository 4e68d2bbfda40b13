"""The finished runs of a one-point sweep, as the benchmark formatters read them from its ``sweep.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_sweep(sweep_dir: Path) -> dict[str, Any]:
    """The sweep's ``sweep.json``: what was swept (``pipeline``, ``seeds``, ``grid``) and every run's record."""
    return json.loads((Path(sweep_dir) / "sweep.json").read_text())


def complete_records(sweep_dir: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of the complete runs of ``summary`` (read from ``sweep_dir``); SystemExit when there is none."""
    runs = [run for run in summary["runs"] if run["status"] == "complete"]
    if not runs:
        raise SystemExit(f"{sweep_dir}: no complete run in sweep.json")
    return runs


def complete_runs(sweep_dir: Path) -> dict[int, dict[str, Any]]:
    """Seed -> the record of its complete run (``results``: stage -> metrics; ``stages``: fingerprints, seconds).

    Raises SystemExit with one line when the sweep has several grid points or no complete run.
    """
    summary = read_sweep(sweep_dir)
    points = {run["point"] for run in summary["runs"]}
    if len(points) > 1:
        raise SystemExit(f"{sweep_dir}: a sweep over one grid point is expected, found {sorted(points)}")
    return dict(sorted((run["seed"], run) for run in complete_records(sweep_dir, summary)))


def run_folder(record: dict[str, Any]) -> Path:
    """The folder of a run of the sweep (where its ``sweep.log`` and its stages' links are)."""
    return Path(record["log"]).parent


def stage_seconds(record: dict[str, Any]) -> float:
    """The seconds a run's stages took when they were computed (shared stages count in every run that uses them)."""
    return sum(stage.get("seconds") or 0.0 for stage in record["stages"].values())
