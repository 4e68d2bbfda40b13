"""benchmarks/video_graph_sweep.py: every variant is a valid graph_distill stage that differs only where it says."""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks.video_graph import PIPELINE, teacher_stages
from benchmarks.video_graph_sweep import VARIANTS, sweep_stages
from ssl_kd.config import load_pipeline


def test_variants_validate_and_change_only_their_keys(tmp_path: Path) -> None:
    raw = yaml.safe_load(PIPELINE.read_text())
    graph = next(stage for stage in raw["stages"] if stage["name"] == "graph")
    stages = sweep_stages(graph, seed=10, variants=list(VARIANTS))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw | {"stages": teacher_stages(raw) + stages}))
    loaded = {stage.name: stage for stage in load_pipeline(path).stages}
    assert loaded["alone_s10"].method == "supervised" and loaded["alone_s10"].engine.seed == 10
    reference = loaded["both_s10"]
    for name, changes in VARIANTS.items():
        stage = loaded[f"{name}_s{10}"]
        assert stage.method == "graph_distill" and stage.engine.seed == 10
        for key in ("tau", "logit_weight", "rep_weight"):
            assert getattr(stage, key) == changes.get(key, getattr(reference, key))
