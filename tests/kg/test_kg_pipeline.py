"""Tiny link-prediction pipelines end to end: teacher -> DualDE stage 1 -> stage 2, resume after SIGKILL, and the
errors a user meets first (malformed triples, missing paths, a method on the wrong domain's data)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_kd.config import load_pipeline
from ssl_kd.engine.method import MethodEnv
from ssl_kd.errors import ConfigError
from ssl_kd.kg.domain import KGFacts
from ssl_kd.kg.methods.dualde import DualDE, DualDEConfig
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler
from ssl_kd.stages.base import StageContext

from conftest import REPO, kill_once_checkpointed, resume_and_compare, run_command, write_pipeline

ROTATE = {"arch": "rotate", "options": {"dim": 8, "gamma": 6.0}}
TINY_KG = {
    "name": "tiny_kg",
    "defaults": {
        "data": {"name": "nations", "batch_size": 64, "eval_batch_size": 64},
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 5, "log_every": 5, "device": "cpu"},
        "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0, "schedule": "constant"},
        "num_negatives": 8,
    },
    "stages": [
        {"name": "teacher", "method": "kge", "model": {"arch": "rotate", "options": {"dim": 32, "gamma": 6.0}}},
        {"name": "alone", "method": "kge", "model": ROTATE},
        {"name": "stage1", "method": "dualde", "student": ROTATE, "teacher": {"from": "teacher"}},
        {
            "name": "stage2",
            "method": "dualde",
            "stage": 2,
            "student": {"from": "stage1"},
            "teacher": {"from": "teacher"},
        },
    ],
}
for _stage in TINY_KG["stages"]:
    _stage["epochs"] = 2


@pytest.fixture(scope="module")
def tiny_kg_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("kg")
    path = write_pipeline(root / "kg.yaml", TINY_KG)
    return root, Scheduler(load_pipeline(path), root / "run").run()


def test_every_stage_reports_filtered_ranking_metrics(tiny_kg_run: tuple[Path, list]) -> None:
    _, outcomes = tiny_kg_run
    for outcome in outcomes:
        metrics = outcome.metrics
        assert 0 < metrics["test_mrr"] <= 1 and 1 <= metrics["test_mr"] <= 14, outcome.name
        assert metrics["test_hits_at_1"] <= metrics["test_hits_at_3"] <= metrics["test_hits_at_10"] <= 1
        assert metrics["test_triples"] == 201 and metrics["steps"] == 2 * (1592 // 64)
    assert {"student_soft", "student_hard"} <= set(
        json.loads((tiny_kg_run[0] / "run/stage1/history.json").read_text())[0]
    )
    second = json.loads((tiny_kg_run[0] / "run/stage2/history.json").read_text())[0]
    assert {"student_soft", "student_hard", "teacher_soft", "teacher_hard"} <= set(second)


def test_the_teacher_is_frozen_in_stage_one_and_adapts_in_stage_two(tiny_kg_run: tuple[Path, list]) -> None:
    run = tiny_kg_run[0] / "run"
    teacher, _ = load_saved_model(run / "teacher")
    stage1 = torch.load(run / "stage1" / "checkpoints" / "last.pt", weights_only=True)["method"]
    stage2 = torch.load(run / "stage2" / "checkpoints" / "last.pt", weights_only=True)["method"]
    assert not any(key.startswith("teacher.") for key in stage1)  # frozen: rebuilt from its stage, not saved
    assert not torch.equal(stage2["teacher.entity.weight"], teacher.entity.weight)


def test_stage_two_starts_from_the_stage_one_student(tiny_kg_run: tuple[Path, list], tmp_path: Path) -> None:
    run = tiny_kg_run[0] / "run"
    ctx = StageContext(run, tmp_path, "check", logging.getLogger("test"))
    cfg = load_pipeline(tiny_kg_run[0] / "kg.yaml").stage("stage2")
    assert isinstance(cfg, DualDEConfig)
    method = DualDE(cfg, MethodEnv(KGFacts(14, 55, "nations"), ctx.load_model))
    stage1_student, _ = load_saved_model(run / "stage1")
    assert torch.equal(method.student.entity.weight, stage1_student.entity.weight)


def test_student_has_far_fewer_embedding_parameters(tiny_kg_run: tuple[Path, list]) -> None:
    run = tiny_kg_run[0] / "run"
    teacher, meta = load_saved_model(run / "teacher")
    student, _ = load_saved_model(run / "stage2")
    assert teacher.embedding_parameters == 4 * student.embedding_parameters
    assert meta["entities"][:2] == ["brazil", "burma"] and len(meta["relations"]) == 55


def test_sigkill_during_a_kg_stage_resumes_to_identical_metrics(tmp_path: Path) -> None:
    raw = {**TINY_KG, "stages": [*TINY_KG["stages"][:1], {**TINY_KG["stages"][2], "epochs": 6}]}
    raw["defaults"] = {**raw["defaults"], "engine": {**raw["defaults"]["engine"], "checkpoint_every": 1}}
    pipeline = write_pipeline(tmp_path / "kg.yaml", raw)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    killed, fresh = tmp_path / "killed", tmp_path / "fresh"
    command = run_command(pipeline, killed, "--no-report")
    kill_once_checkpointed(command, killed / "stage1" / "checkpoints" / "last.pt", env)
    resume_and_compare(command, run_command(pipeline, fresh, "--no-report"), env)
    assert "resuming from checkpoint at step" in (killed / "stage1" / "log.txt").read_text()
    resumed_metrics = json.loads((killed / "results.json").read_text())["stage1"]
    fresh_metrics = json.loads((fresh / "results.json").read_text())["stage1"]
    assert resumed_metrics == pytest.approx(fresh_metrics, rel=1e-6, abs=1e-7)


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ssl_kd", *args], cwd=REPO, capture_output=True, text=True)


def test_malformed_triples_file_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    kg = tmp_path / "kg"
    kg.mkdir()
    (kg / "train.txt").write_text("a\tr\tb\nb\tr\n")
    (kg / "valid.txt").write_text("a\tr\tb\n")
    (kg / "test.txt").write_text("a\tr\tb\n")
    raw = {**TINY_KG, "stages": [TINY_KG["stages"][1]]}
    raw["defaults"] = {**raw["defaults"], "data": {"name": "kg_triples", "root": str(kg)}}
    result = _run_cli("run", str(write_pipeline(tmp_path / "p.yaml", raw)), "--run-dir", str(tmp_path / "run"))
    assert result.returncode != 0
    error = [line for line in result.stderr.splitlines() if line.startswith("ssl-kd: error")]
    assert len(error) == 1 and f"{kg / 'train.txt'}:2" in error[0], result.stderr


def test_missing_kg_folder_is_a_clear_error(tmp_path: Path) -> None:
    raw = {**TINY_KG, "stages": [TINY_KG["stages"][1]]}
    raw["defaults"] = {**raw["defaults"], "data": {"name": "kg_triples", "root": str(tmp_path / "nowhere")}}
    result = _run_cli("validate", str(write_pipeline(tmp_path / "p.yaml", raw)), "--require-paths")
    assert result.returncode != 0 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_unknown_key_names_the_nearest_valid_one(tmp_path: Path) -> None:
    raw = {**TINY_KG, "stages": [{**TINY_KG["stages"][2], "socre_transform": "raw"}]}
    with pytest.raises(ConfigError, match="did you mean 'score_transform'"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))


def test_a_kg_method_on_image_data_is_refused(tmp_path: Path) -> None:
    raw = {**TINY_KG, "stages": [{**TINY_KG["stages"][1], "data": {"name": "digits"}}]}
    with pytest.raises(ConfigError, match="image_classification"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))


def test_the_report_shows_the_ranking_metrics_and_curves(tiny_kg_run: tuple[Path, list]) -> None:
    from ssl_kd.report import build_report

    html = build_report(tiny_kg_run[0] / "run").read_text()
    assert "MRR" in html and "H@10" in html and "stage1" in html
