"""Whole sweeps on a tiny teacher -> KD pipeline: one teacher for every run, the table equals the runs' results,
a failed run is reported while the others finish, a SIGKILLed sweep resumes to the uninterrupted metrics, rerun and
``--report-only`` start no run, the report has its plots."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssl_kd.cli import main
from ssl_kd.sweep.grid import parse_grid
from ssl_kd.sweep.runner import is_complete, plan_sweep

from conftest import REPO, kill_once_checkpointed, write_pipeline

TINY_SWEEP = {
    "name": "tiny_sweep",
    "sweep": {"fixed_seed_stages": ["teacher"]},
    "defaults": {
        "data": {"name": "digits", "batch_size": 10, "train_per_class": 3, "eval_batch_size": 500},
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 1, "log_every": 1},
        "optim": {"lr": 0.05},
    },
    "stages": [
        {"name": "teacher", "method": "supervised", "model": {"arch": "mobilenet_v3_small"}, "epochs": 1},
        {
            "name": "distill",
            "method": "hinton_kd",
            "student": {"arch": "mobilenet_v3_small"},
            "teacher": {"from": "teacher"},
            "data": {"train_per_class": 10},
            "epochs": 3,
        },
    ],
}
# the second point asks for a resnet18 teacher from a stage that made a mobilenet: it fails when distill starts
GRID = "distill.teacher.arch=mobilenet_v3_small,resnet18"
GOOD, BAD = "arch=mobilenet_v3_small", "arch=resnet18"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _sweep_command(pipeline: Path, sweep_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ssl_kd", "sweep", str(pipeline), "--sweep-dir", str(sweep_dir), *extra]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """``(pipeline, sweep folder, the finished process)`` of a 2 seeds x 2 points sweep with 2 jobs."""
    root = tmp_path_factory.mktemp("sweep")
    pipeline = write_pipeline(root / "tiny_sweep.yaml", TINY_SWEEP)
    command = _sweep_command(pipeline, root / "sweep", "--seeds", "0", "1", "--grid", GRID, "--jobs", "2")
    process = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    return pipeline, root / "sweep", process


def _sweep_json(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep.json").read_text())


def test_teacher_is_computed_once_for_every_run(swept) -> None:
    _, sweep_dir, _ = swept
    runs = sweep_dir / "runs"
    targets = {os.readlink(runs / point / f"seed={seed}" / "teacher") for point in (GOOD, BAD) for seed in (0, 1)}
    (target,) = targets
    assert not Path(target).is_absolute()
    log = (runs / GOOD / "seed=0" / target / "log.txt").read_text()
    assert log.count("stage teacher: running") == 1
    run_logs = [(runs / point / f"seed={s}" / "sweep.log").read_text() for point in (GOOD, BAD) for s in (0, 1)]
    assert sum("stage teacher: running" in text for text in run_logs) == 1
    assert sum("stage teacher: skipped" in text for text in run_logs) == 3
    distills = {os.readlink(runs / GOOD / f"seed={seed}" / "distill") for seed in (0, 1)}
    assert len(distills) == 2


def test_a_failed_run_is_reported_and_the_others_finish(swept) -> None:
    _, sweep_dir, process = swept
    assert process.returncode == 1
    summary = _sweep_json(sweep_dir)
    assert summary["failed"] == [f"{BAD}/seed=0", f"{BAD}/seed=1"]
    assert [run["status"] for run in summary["runs"]] == ["complete", "complete", "failed", "failed"]
    failed = summary["runs"][2]
    assert failed["returncode"] == 2 and "expects arch 'resnet18'" in failed["log_tail"]
    assert f"FAILED {BAD}/seed=0 (exit code 2)" in process.stderr
    assert f"FAILED {BAD}/seed=1: exit code 2" in (sweep_dir / "sweep.md").read_text()


def test_table_equals_the_runs_results(swept) -> None:
    _, sweep_dir, _ = swept
    per_seed = [json.loads((sweep_dir / "runs" / GOOD / f"seed={s}" / "results.json").read_text()) for s in (0, 1)]
    assert per_seed[0]["teacher"] == per_seed[1]["teacher"]
    assert per_seed[0]["distill"] != per_seed[1]["distill"]
    rows = {(row["point"], row["stage"], row["metric"]): row for row in _sweep_json(sweep_dir)["table"]}
    row = rows[GOOD, "distill", "test_top1"]
    values = [result["distill"]["test_top1"] for result in per_seed]
    assert row["values"] == {"0": values[0], "1": values[1]}
    assert row["mean"] == pytest.approx(sum(values) / 2)
    assert row["std"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert not any(point == BAD for point, _, _ in rows)


def test_rerun_and_report_only_start_no_run(swept, capsys: pytest.CaptureFixture) -> None:
    pipeline, sweep_dir, _ = swept
    sweep = plan_sweep(pipeline, [], [parse_grid(GRID)], [0, 1], sweep_dir)
    assert [is_complete(sweep, run) for run in sweep.runs] == [True, True, False, False]
    before = (sweep_dir / "sweep.md").read_text()
    argv = ["sweep", str(pipeline), "--sweep-dir", str(sweep_dir), "--seeds", "0", "1", "--grid", GRID]
    assert main([*argv, "--report-only", "--baseline", "teacher"]) == 0
    text = (sweep_dir / "sweep.md").read_text()
    assert text != before and "stage teacher" in text and f"not run yet: {BAD}/seed=0" in text
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{GOOD}/seed=0: teacher: skip, distill: skip" in out
    assert "shared: teacher" in out and "4 runs" in out


def test_report_has_the_table_and_an_error_bar_plot_per_metric(swept) -> None:
    from ssl_kd.report.sweep import build_sweep_report  # after the registrations (ssl_kd.report's import order)

    _, sweep_dir, _ = swept
    page = build_sweep_report(sweep_dir).read_text()
    assert "Sweep table" in page and page.count("<img") == 2  # test top-1 and skipped samples
    assert (sweep_dir / "report" / "errorbars_test_top1.png").is_file()


def _lock_free(path: Path, timeout: float = 10) -> bool:
    """Whether the store lock at ``path`` can be taken within ``timeout`` (its holder died)."""
    deadline = time.monotonic() + timeout
    with path.open("a") as file:
        while time.monotonic() < deadline:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                time.sleep(0.05)
    return False


def test_killed_sweep_resumes_to_the_uninterrupted_metrics(swept, tmp_path: Path) -> None:
    pipeline, uninterrupted, _ = swept
    command = _sweep_command(
        pipeline, tmp_path / "killed", "--seeds", "0", "--grid", "distill.teacher.arch=mobilenet_v3_small"
    )
    run = tmp_path / "killed" / "runs" / GOOD / "seed=0"
    kill_once_checkpointed(command, run / "distill" / "checkpoints" / "last.pt", ENV)
    assert json.loads((run / "distill" / "state.json").read_text())["status"] == "running"
    lock = (run / "distill").resolve().with_suffix(".lock")
    assert _lock_free(lock), "the run outlived the killed sweep"
    resumed = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from checkpoint at step" in (run / "distill" / "log.txt").read_text()
    killed = json.loads((run / "results.json").read_text())
    fresh = json.loads((uninterrupted / "runs" / GOOD / "seed=0" / "results.json").read_text())
    for stage in ("teacher", "distill"):
        assert killed[stage] == pytest.approx(fresh[stage], rel=1e-6, abs=1e-7), stage
