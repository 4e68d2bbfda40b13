"""benchmarks/video_graph_sweep.py: every variant is a valid graph_distill stage that differs only where it says."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from benchmarks import video_graph
from benchmarks.video_graph import PIPELINE, graph_stage, labelled_data, matched_epochs, teacher_stages
from benchmarks.video_graph_sweep import VARIANTS, sweep_stages
from ssl_kd.config import load_pipeline
from ssl_kd.config.schema import DataConfig


def test_matched_epochs_give_the_labelled_student_the_graph_students_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_splits(cfg: DataConfig) -> SimpleNamespace:  # the moving digits' sizes, without generating them
        return SimpleNamespace(train=range(8 * cfg.train_per_class if cfg.train_per_class else 800))

    monkeypatch.setattr(video_graph, "load_splits", fake_splits)
    raw = yaml.safe_load(PIPELINE.read_text())
    # graph: 800 clips in batches of 32 for 30 epochs = 750 steps; labelled: 40 clips in batches of 16 = 2 per epoch
    assert matched_epochs(raw) == 375


def test_variants_validate_and_change_only_their_keys(tmp_path: Path) -> None:
    raw = yaml.safe_load(PIPELINE.read_text())
    graph = graph_stage(raw)
    stages = sweep_stages(graph, labelled_data(raw), seed=10, variants=list(VARIANTS), steps_epochs=375)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw | {"stages": teacher_stages(raw) + stages}))
    loaded = {stage.name: stage for stage in load_pipeline(path).stages}
    assert loaded["alone_s10"].method == "supervised" and loaded["alone_s10"].engine.seed == 10
    assert loaded["alone_s10"].data.train_per_class == 5 and loaded["alone_s10"].data.labelled_per_class is None
    assert loaded["alone_all_s10"].data.labelled_per_class == 5  # every clip, the graph students' data
    assert loaded["alone_steps_s10"].epochs == 375 and loaded["alone_steps_s10"].data == loaded["alone_s10"].data
    reference = next(stage for stage in load_pipeline(PIPELINE).stages if stage.name == "graph")
    for name, changes in VARIANTS.items():
        stage = loaded[f"{name}_s{10}"]
        assert stage.method == "graph_distill" and stage.engine.seed == 10
        assert stage.data == loaded["alone_all_s10"].data
        for key in ("tau", "logit_match", "teacher_weights", "logit_weight", "rep_weight"):
            assert getattr(stage, key) == changes.get(key, getattr(reference, key))
