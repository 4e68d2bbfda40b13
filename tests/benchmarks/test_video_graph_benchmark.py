"""The video benchmark pipelines keep the shipped teachers and graph stage; the students differ where they say."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from benchmarks import video_graph
from benchmarks.video_graph import PIPELINE, accuracy_table, matched_epochs
from ssl_kd.config import load_pipeline
from ssl_kd.config.schema import DataConfig
from ssl_kd.scheduler import fingerprints, semantic_config

from conftest import REPO

BENCHMARK = REPO / "benchmarks" / "video_graph.yaml"
PILOT = REPO / "benchmarks" / "video_graph_pilot.yaml"
TEACHERS = [f"{kind}_{task}" for kind in ("pretext", "adapt") for task in ("rotation", "order", "speed", "arrow")]


def unnamed(stage) -> dict:
    return {key: value for key, value in semantic_config(stage).items() if key != "name"}


def test_matched_epochs_give_the_labelled_student_the_graph_students_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_splits(cfg: DataConfig) -> SimpleNamespace:  # the moving digits' sizes, without generating them
        return SimpleNamespace(train=range(8 * cfg.train_per_class if cfg.train_per_class else 800))

    monkeypatch.setattr(video_graph, "load_splits", fake_splits)
    raw = yaml.safe_load(PIPELINE.read_text())
    # graph: 800 clips in batches of 32 for 30 epochs = 750 steps; labelled: 40 clips in batches of 16 = 2 per epoch
    assert matched_epochs(raw) == 375
    assert load_pipeline(BENCHMARK).stage("alone_steps").epochs == 375


def test_benchmark_and_pilot_share_the_shipped_teachers_computed_once_for_every_seed() -> None:
    shipped = fingerprints(load_pipeline(PIPELINE))
    for path in (BENCHMARK, PILOT):
        pipeline = load_pipeline(path)
        assert {name: fingerprints(pipeline)[name] for name in TEACHERS} == {name: shipped[name] for name in TEACHERS}
        assert pipeline.sweep.fixed_seed_stages == TEACHERS


def test_students_are_the_shipped_graph_stage_with_only_their_changes() -> None:
    graph = unnamed(load_pipeline(PIPELINE).stage("graph"))
    benchmark, pilot = load_pipeline(BENCHMARK), load_pipeline(PILOT)
    assert unnamed(benchmark.stage("both")) == graph == unnamed(pilot.stage("kl_tau4"))
    assert unnamed(benchmark.stage("logits")) == graph | {"representation_graph": False}
    assert unnamed(benchmark.stage("rep")) == graph | {"logits_graph": False}
    assert unnamed(pilot.stage("emd_tau1")) == graph | {"logit_match": "emd", "tau": 1.0}
    assert unnamed(pilot.stage("kl_tau4_agree")) == graph | {"teacher_weights": "pairwise_emd"}
    assert benchmark.stage("kd").teacher.from_ in TEACHERS
    assert unnamed(benchmark.stage("alone_all"))["data"] == graph["data"]
    for name in ("alone", "alone_steps", "alone_all"):
        assert unnamed(benchmark.stage(name)) == unnamed(pilot.stage(name))


def test_the_table_compares_both_graphs_with_the_best_student_alone() -> None:
    values = {  # per seed 0, 1, 2
        "alone": (0.10, 0.12, 0.14), "alone_steps": (0.30, 0.32, 0.34), "alone_all": (0.20, 0.20, 0.20),
        "single_frame": (0.1, 0.1, 0.1), "kd": (0.5, 0.5, 0.5), "logits": (0.4, 0.4, 0.4), "rep": (0.2, 0.2, 0.2),
        "both": (0.50, 0.50, 0.56),
    }  # fmt: skip
    by_seed = {seed: {stage: {"test_top1": v[seed]} for stage, v in values.items()} for seed in range(3)}
    table, summary = accuracy_table(by_seed, "adapt_order")
    assert summary["baseline"] == "alone_steps"
    assert summary["gap_both_vs_alone"] == pytest.approx(0.52 - 0.32)
    assert summary["two_std"] == pytest.approx(2 * 0.034641, abs=1e-6)  # the larger std: both's (0.5, 0.5, 0.56)
    assert summary["beats"] and summary["paired_gaps"] == pytest.approx([0.20, 0.18, 0.22])
    assert "| student + KD, best single teacher (adapt_order) | 0.500 ± 0.000 | +0.180 |" in table
