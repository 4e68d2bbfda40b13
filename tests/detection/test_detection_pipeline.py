"""A tiny detection pipeline end to end through the Scheduler (teacher -> student alone), resume after SIGKILL, and
the errors a user meets first (missing paths, options of another dataset, a detector on image data)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler

from conftest import REPO, write_pipeline

SMALL = {"backbone": "mobilenet_v3_small", "backbone_options": {"small_input": False}, "fpn_channels": 32}


def tiny_detection(data_root: Path) -> dict:
    return {
        "name": "tiny_detection",
        "defaults": {
            "data": {
                "name": "digits_detection",
                "root": str(data_root),
                "image_size": 64,
                "train_canvases": 24,
                "test_canvases": 6,
                "batch_size": 8,
                "eval_batch_size": 6,
            },
            "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 1, "log_every": 1, "device": "cpu"},
            "optim": {"name": "sgd", "lr": 0.01, "weight_decay": 1.0e-4, "schedule": "constant"},
            "epochs": 2,
        },
        "stages": [
            {"name": "teacher", "method": "detector", "model": {"arch": "retinanet", "options": SMALL}},
            {"name": "student_alone", "method": "detector", "model": {"arch": "fcos", "options": SMALL}},
        ],
    }


@pytest.fixture(scope="module")
def tiny_detection_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("detection")
    (root / "data").mkdir()
    path = write_pipeline(root / "detection.yaml", tiny_detection(root / "data"))
    return root, Scheduler(load_pipeline(path), root / "run").run()


def test_every_stage_reports_coco_box_metrics(tiny_detection_run: tuple[Path, list]) -> None:
    root, outcomes = tiny_detection_run
    for outcome in outcomes:
        metrics = outcome.metrics
        assert {"test_map", "test_ap50", "test_ap75", "test_ap_small", "test_ar100"} <= set(metrics)
        assert 0 <= metrics["test_map"] <= metrics["test_ap50"] <= 1
        assert metrics["test_images"] == 6 and metrics["test_skipped_images"] == 0 and metrics["steps"] == 2 * 3
    history = json.loads((root / "run/teacher/history.json").read_text())
    assert {"classification", "bbox_regression"} <= set(history[0])
    model, meta = load_saved_model(root / "run/student_alone")
    assert model.head_kind == "fcos" and meta["class_names"] == [str(d) for d in range(10)]
    assert meta["image_size"] == 64 and meta["domain"] == "object_detection"


def _cli(pipeline: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "ssl_kd", "run", str(pipeline), "--run-dir", str(run_dir), "--no-report"]


def test_sigkill_during_a_detection_stage_resumes_to_identical_metrics(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    raw = tiny_detection(tmp_path / "data")
    raw["stages"] = [{**raw["stages"][0], "epochs": 4}]
    pipeline = write_pipeline(tmp_path / "detection.yaml", raw)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    process = subprocess.Popen(_cli(pipeline, killed), cwd=REPO, env=env)
    checkpoint = killed / "teacher" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    resumed = subprocess.run(_cli(pipeline, killed), cwd=REPO, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from checkpoint at step" in (killed / "teacher" / "log.txt").read_text()
    fresh = subprocess.run(_cli(pipeline, tmp_path / "fresh"), cwd=REPO, env=env, capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr
    resumed_metrics = json.loads((killed / "results.json").read_text())["teacher"]
    fresh_metrics = json.loads((tmp_path / "fresh" / "results.json").read_text())["teacher"]
    assert resumed_metrics == pytest.approx(fresh_metrics, rel=1e-6, abs=1e-7)


def _validate(tmp_path: Path, raw: dict) -> subprocess.CompletedProcess:
    path = write_pipeline(tmp_path / "p.yaml", raw)
    return subprocess.run(
        [sys.executable, "-m", "ssl_kd", "validate", str(path)], cwd=REPO, capture_output=True, text=True
    )


def test_a_missing_coco_root_is_one_clear_line(tmp_path: Path) -> None:
    raw = tiny_detection(tmp_path)
    raw["defaults"]["data"] = {"name": "coco", "root": str(tmp_path / "nowhere"), "annotations": "a.json"}
    result = _validate(tmp_path, raw)
    errors = [line for line in result.stderr.splitlines() if line.startswith("ssl-kd: error")]
    assert result.returncode != 0 and len(errors) == 1 and "does not exist" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_missing_coco_annotations_are_named_when_the_stage_runs(tmp_path: Path) -> None:
    raw = tiny_detection(tmp_path)
    raw["defaults"]["data"] = {"name": "coco", "root": str(tmp_path), "annotations": "annotations/missing.json"}
    raw["stages"] = raw["stages"][:1]
    path = write_pipeline(tmp_path / "p.yaml", raw)
    result = subprocess.run(_cli(path, tmp_path / "run"), cwd=REPO, capture_output=True, text=True)
    errors = [line for line in result.stderr.splitlines() if line.startswith("ssl-kd: error")]
    assert result.returncode != 0 and len(errors) == 1, result.stderr
    assert str(tmp_path / "annotations/missing.json") in errors[0] and "do not exist" in errors[0]


def test_coco_options_on_the_canvases_are_refused(tmp_path: Path) -> None:
    raw = tiny_detection(tmp_path)
    raw["defaults"]["data"] = {**raw["defaults"]["data"], "annotations": "x.json"}
    with pytest.raises(ConfigError, match="only apply to the coco dataset"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))


def test_a_detector_on_image_classification_data_is_refused(tmp_path: Path) -> None:
    raw = tiny_detection(tmp_path)
    raw["defaults"]["data"] = {"name": "digits"}
    with pytest.raises(ConfigError, match="object_detection"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))
