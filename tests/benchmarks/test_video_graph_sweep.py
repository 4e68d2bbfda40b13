"""benchmarks/video_graph.py and video_graph_sweep.py: every student is a valid stage that differs from the
pipeline's graph stage only where it says, at the budget it says."""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks.video_graph import PIPELINE, graph_stage, student_stages, teacher_stages
from benchmarks.video_graph_sweep import VARIANTS, sweep_stages
from ssl_kd.config import load_pipeline

GRAPH_KEYS = ("tau", "logit_match", "teacher_weights", "logit_weight", "rep_weight", "rep_loss", "teachers")


def load_with_teachers(raw: dict, stages: list[dict], tmp_path: Path) -> dict:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(raw | {"stages": teacher_stages(raw) + stages}))
    return {stage.name: stage for stage in load_pipeline(path).stages}


def test_benchmark_students_share_data_and_budget(tmp_path: Path) -> None:
    raw = yaml.safe_load(PIPELINE.read_text())
    loaded = load_with_teachers(raw, student_stages(graph_stage(raw), 3, "adapt_arrow", epochs=7), tmp_path)
    reference = next(stage for stage in load_pipeline(PIPELINE).stages if stage.name == "graph")
    alone = loaded["alone_s3"]
    assert alone.method == "supervised" and alone.engine.seed == 3 and alone.epochs == 7
    assert alone.data == reference.data  # every label, as the pipeline's graph stage
    assert loaded["single_frame_s3"].data.video.single_frame and not alone.data.video.single_frame
    assert loaded["single_frame_s3"].data.video.frames == alone.data.video.frames
    assert loaded["kd_s3"].teacher.from_ == "adapt_arrow"
    for name, logits, rep in (("logits", True, False), ("rep", False, True), ("both", True, True)):
        stage = loaded[f"{name}_s3"]
        assert (stage.logits_graph, stage.representation_graph, stage.epochs) == (logits, rep, 7)
        assert all(getattr(stage, key) == getattr(reference, key) for key in GRAPH_KEYS)
    for name in ("alone_full", "both_full"):  # the references at the pipeline's budget
        assert loaded[f"{name}_s3"].epochs == reference.epochs == 30
    students = [stage for name, stage in loaded.items() if name.endswith("_s3") and name != "single_frame_s3"]
    assert len(students) == 7 and all(stage.data == alone.data for stage in students)


def test_sweep_variants_change_only_their_keys(tmp_path: Path) -> None:
    raw = yaml.safe_load(PIPELINE.read_text())
    loaded = load_with_teachers(raw, sweep_stages(graph_stage(raw), 10, list(VARIANTS), epochs=7), tmp_path)
    reference = next(stage for stage in load_pipeline(PIPELINE).stages if stage.name == "graph")
    assert loaded["alone_s10"].method == "supervised" and loaded["alone_s10"].epochs == 7
    for name, changes in VARIANTS.items():
        stage = loaded[f"{name}_s10"]
        assert stage.method == "graph_distill" and stage.engine.seed == 10 and stage.epochs == 7
        assert stage.data == loaded["alone_s10"].data
        for key in GRAPH_KEYS:
            assert getattr(stage, key) == changes.get(key, getattr(reference, key))
