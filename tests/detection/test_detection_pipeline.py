"""A tiny detection pipeline end to end through the Scheduler (teacher -> student alone), resume after SIGKILL, and
the errors a user meets first (missing paths, options of another dataset, a detector on image data)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError, DataError
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler

from conftest import kill_once_checkpointed, resume_and_compare, run_command, tiny_detection, write_pipeline


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


def test_sigkill_during_a_detection_stage_resumes_to_identical_metrics(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    raw = tiny_detection(tmp_path / "data")
    raw["stages"] = [{**raw["stages"][0], "epochs": 4}]
    pipeline = write_pipeline(tmp_path / "detection.yaml", raw)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    killed, fresh = tmp_path / "killed", tmp_path / "fresh"
    command = run_command(pipeline, killed, "--no-report")
    kill_once_checkpointed(command, killed / "teacher" / "checkpoints" / "last.pt", env)
    resume_and_compare(command, run_command(pipeline, fresh, "--no-report"), env)
    assert "resuming from checkpoint at step" in (killed / "teacher" / "log.txt").read_text()
    resumed_metrics = json.loads((killed / "results.json").read_text())["teacher"]
    fresh_metrics = json.loads((fresh / "results.json").read_text())["teacher"]
    assert resumed_metrics == pytest.approx(fresh_metrics, rel=1e-6, abs=1e-7)


def test_a_missing_coco_root_is_one_clear_line(tmp_path: Path) -> None:
    raw = tiny_detection(tmp_path)
    raw["defaults"]["data"] = {"name": "coco", "root": str(tmp_path / "nowhere"), "annotations": "a.json"}
    with pytest.raises(ConfigError, match="does not exist") as err:
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))
    assert str(tmp_path / "nowhere") in str(err.value) and "\n" not in str(err.value).strip()


def test_missing_coco_annotations_are_named_when_the_stage_runs(tmp_path: Path) -> None:
    raw = tiny_detection(tmp_path)
    raw["defaults"]["data"] = {"name": "coco", "root": str(tmp_path), "annotations": "annotations/missing.json"}
    raw["stages"] = raw["stages"][:1]
    pipeline = load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))
    with pytest.raises(DataError, match="do not exist") as err:
        Scheduler(pipeline, tmp_path / "run").run()
    assert str(tmp_path / "annotations/missing.json") in str(err.value) and "\n" not in str(err.value)


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


def test_a_detector_backbone_pretrained_by_an_earlier_stage(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``backbone_from``: a classifier stage on canvas_digits initialises the detector's backbone, said in its log."""
    raw = tiny_detection(tmp_path)
    detection_data = raw["defaults"].pop("data")
    pretrain = {
        "name": "pretrain",
        "method": "supervised",
        "data": {"name": "canvas_digits", "image_size": 32, "batch_size": 256},
        "model": {"arch": "mobilenet_v3_small", "options": {"small_input": False}},
        "epochs": 1,
    }
    student = {**raw["stages"][1], "data": detection_data, "epochs": 1}
    student["model"] = {**student["model"], "arch": "retinanet", "backbone_from": "pretrain"}
    raw["stages"] = [pretrain, student]
    pipeline = load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))
    with caplog.at_level(logging.INFO, logger="ssl_kd"):
        Scheduler(pipeline, tmp_path / "run").run()
    log = (tmp_path / "run" / "student_alone" / "log.txt").read_text()
    assert "backbone of stage 'pretrain' (mobilenet_v3_small): copied" in log

    raw["stages"] = [student, pretrain]
    with pytest.raises(ConfigError, match=r"model.backbone_from: 'pretrain' comes later"):
        load_pipeline(write_pipeline(tmp_path / "later.yaml", raw))
