"""The scheduler: full run, skip when unchanged, rerun on change, --from, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import Scheduler

from conftest import kill_once_checkpointed, resume_and_compare, run_command


def _actions(outcomes) -> dict[str, str]:
    return {outcome.name: outcome.action for outcome in outcomes}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One complete tiny run shared by the tests below (each copies it)."""
    from conftest import TINY_PIPELINE, write_pipeline

    root = tmp_path_factory.mktemp("finished")
    path = write_pipeline(root / "tiny.yaml", TINY_PIPELINE)
    outcomes = Scheduler(load_pipeline(path), root / "run").run()
    assert _actions(outcomes) == {"teacher": "ran", "distill": "ran", "probe": "ran"}
    return path, root / "run"


def _copy(finished_run: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    path, run = finished_run
    shutil.copytree(run, tmp_path / "run")
    return path, tmp_path / "run"


def test_run_writes_stage_folders_and_results(finished_run: tuple[Path, Path]) -> None:
    _, run = finished_run
    results = json.loads((run / "results.json").read_text())
    assert set(results) == {"teacher", "distill", "probe"}
    for stage in results:
        for name in ("config.yaml", "metrics.json", "log.txt", "state.json"):
            assert (run / stage / name).is_file(), (stage, name)
    assert (run / "distill" / "model.pt").is_file()
    assert (run / "distill" / "checkpoints" / "last.pt").is_file()
    probe = results["probe"]
    for key in ("linear_top1", "knn_top1", "linear_top1_1shot", "raw_pixels_linear_top1_2shot"):
        assert 0.0 <= probe[key] <= 1.0
    assert 0.0 <= results["teacher"]["test_top1"] <= 1.0


def test_rerun_skips_complete_stages(finished_run: tuple[Path, Path], tmp_path: Path) -> None:
    path, run = _copy(finished_run, tmp_path)
    before = json.loads((run / "results.json").read_text())
    outcomes = Scheduler(load_pipeline(path), run).run()
    assert _actions(outcomes) == {"teacher": "skipped", "distill": "skipped", "probe": "skipped"}
    assert json.loads((run / "results.json").read_text()) == before


def test_non_semantic_change_still_skips(finished_run: tuple[Path, Path], tmp_path: Path) -> None:
    path, run = _copy(finished_run, tmp_path)
    pipeline = load_pipeline(path, ["engine.progress=true", "engine.log_every=5", "data.num_workers=1"])
    assert set(Scheduler(pipeline, run).plan().values()) == {"skip"}


def test_changed_stage_reruns_with_its_dependents_only(finished_run: tuple[Path, Path], tmp_path: Path) -> None:
    path, run = _copy(finished_run, tmp_path)
    outcomes = Scheduler(load_pipeline(path, ["distill.epochs=1"]), run).run()
    assert _actions(outcomes) == {"teacher": "skipped", "distill": "ran", "probe": "ran"}
    assert (run / "distill.previous" / "metrics.json").is_file()


def test_from_forces_rerun_of_later_stages(finished_run: tuple[Path, Path], tmp_path: Path) -> None:
    path, run = _copy(finished_run, tmp_path)
    plan = Scheduler(load_pipeline(path), run, from_stage="probe").plan()
    assert plan == {"teacher": "skip", "distill": "skip", "probe": "run"}


def test_unknown_from_stage_is_a_config_error(finished_run: tuple[Path, Path]) -> None:
    from ssl_kd.errors import ConfigError

    path, run = finished_run
    with pytest.raises(ConfigError, match="did you mean 'distill'"):
        Scheduler(load_pipeline(path), run, from_stage="distil")


RESUME_OVERRIDES = ["distill.epochs=3", "distill.data.train_per_class=5", "engine.checkpoint_every=1", "--no-report"]


def test_sigkill_during_distill_resumes_to_identical_metrics(tiny_pipeline: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    killed, fresh = tmp_path / "killed", tmp_path / "fresh"
    command = run_command(tiny_pipeline, killed, *RESUME_OVERRIDES)
    kill_once_checkpointed(command, killed / "distill" / "checkpoints" / "last.pt", env)
    assert json.loads((killed / "distill" / "state.json").read_text())["status"] == "running"

    resumed, _ = resume_and_compare(command, run_command(tiny_pipeline, fresh, *RESUME_OVERRIDES), env)
    assert "stage teacher: skipped" in resumed
    assert "resuming from checkpoint at step" in resumed
    assert "resuming from checkpoint at step" in (killed / "distill" / "log.txt").read_text()
    resumed_results = json.loads((killed / "results.json").read_text())
    fresh_results = json.loads((fresh / "results.json").read_text())
    for stage in ("distill", "probe"):
        assert resumed_results[stage] == pytest.approx(fresh_results[stage], rel=1e-6, abs=1e-7), stage
