"""A tiny end-to-end video pipeline: pretext teachers -> adaptation -> graph distillation -> probe, on a copy of the
tiny moving digits with one truncated file, which every stage skips, counts and names."""

from __future__ import annotations

import shutil
from pathlib import Path

from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import Scheduler

from conftest import REPO, write_pipeline

TEACHER = {"arch": "r2plus1d", "options": {"width": 4}}


def tiny_video_pipeline(root: Path) -> dict:
    pretext = {"data": {"video": {"frames": 16}}, "model": TEACHER}
    raw = {
        "name": "tiny_video",
        "defaults": {
            "data": {"name": "video", "root": str(root), "batch_size": 8, "eval_batch_size": 16},
            "engine": {"progress": False, "tensorboard": False, "log_every": 1, "device": "cpu"},
            "optim": {"lr": 0.05},
        },
        "stages": [
            {"name": "pretext_arrow", "method": "pretext_arrow", **pretext},
            {"name": "pretext_speed", "method": "pretext_speed", **pretext},
            {"name": "adapt_arrow", "method": "adapt", "model": {"from": "pretext_arrow"}},
            {"name": "adapt_speed", "method": "adapt", "model": {"from": "pretext_speed"}, "mode": "linear"},
            {
                "name": "graph",
                "method": "graph_distill",
                "student": {"arch": "r2plus1d", "options": {"width": 2}},
                "teachers": [{"from": "adapt_arrow"}, {"from": "adapt_speed"}],
                "rep_dim": 32,
                "logit_match": "kl",
                "data": {"labelled_per_class": 1},  # as the shipped pipeline: CE on a few clips, graphs on all
            },
            {"name": "probe", "kind": "probe", "model": {"from": "graph"}, "shots": [1], "draws": 1},
        ],
    }
    for stage in raw["stages"]:
        if stage.get("kind") == "probe":
            stage["raw_pixels"] = False
        else:
            stage["epochs"] = 1
    return raw


def test_tiny_video_pipeline_runs_skips_the_broken_file_and_resumes(tiny_videos: Path, tmp_path: Path) -> None:
    root = tmp_path / "videos"
    shutil.copytree(tiny_videos, root)
    broken = root / "MoveDown" / "v_MoveDown_g01_c02.mp4"
    broken.write_bytes(broken.read_bytes()[:200])
    pipeline = load_pipeline(write_pipeline(tmp_path / "p.yaml", tiny_video_pipeline(root)))
    outcomes = {o.name: o for o in Scheduler(pipeline, tmp_path / "run").run()}
    assert all(o.action == "ran" for o in outcomes.values())
    graph = outcomes["graph"].metrics
    assert graph["skipped_samples"] == 1 and 0.0 <= graph["test_top1"] <= 1.0
    assert outcomes["pretext_arrow"].metrics["skipped_samples"] == 1
    assert str(broken) in (tmp_path / "run" / "graph" / "log.txt").read_text()
    assert "linear_top1" in outcomes["probe"].metrics
    again = Scheduler(load_pipeline(tmp_path / "p.yaml"), tmp_path / "run").run()
    assert all(o.action == "skipped" for o in again)


def test_shipped_pipeline_validates_and_takes_the_ucf101_overrides(tmp_path: Path) -> None:
    path = REPO / "pipelines" / "video_graph_digits.yaml"
    pipeline = load_pipeline(path)
    assert pipeline.stage("graph").teachers[0].from_ == "adapt_rotation"
    (tmp_path / "ucfTrainTestlist").mkdir()
    overrides = [f"data.root={tmp_path}", "data.format=ucf101", "data.split=2"]
    for stage in load_pipeline(path, overrides).stages:
        assert (stage.data.root, stage.data.format, stage.data.split) == (tmp_path, "ucf101", 2)
