"""benchmarks/drkd_sweep.py: its generated pipeline validates, and the KD zoo uses the chosen variant."""

from __future__ import annotations

from pathlib import Path

import yaml

from benchmarks.drkd_sweep import STUDENTS, VARIANTS, ZOO, markdown, sweep_pipeline
from ssl_kd.config import load_pipeline


def test_every_variant_is_a_valid_drkd_stage(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep_pipeline(list(VARIANTS))))
    stages = {stage.name: stage for stage in load_pipeline(path).stages}
    assert len(stages) == len(STUDENTS) * (1 + len(VARIANTS))
    late = stages["mbv2_add_a1_t2_lin_late"]
    assert late.ce_warmup_epochs == 3 and late.weighting == "additive" and late.epochs == 10
    assert stages["alexnet_add_a1_t2_lin_late"].ce_warmup_epochs == 2


def test_the_kd_zoo_drkd_stages_use_the_chosen_variant() -> None:
    sweep = {stage["name"]: stage for stage in sweep_pipeline(["add_a1_t2_lin"])["stages"]}
    zoo = {stage["name"]: stage for stage in yaml.safe_load(ZOO.read_text())["stages"]}
    for prefix in STUDENTS:
        chosen = {key: value for key, value in sweep[f"{prefix}_add_a1_t2_lin"].items() if key != "name"}
        assert {key: value for key, value in zoo[f"{prefix}_drkd"].items() if key != "name"} == chosen


def test_markdown_lists_mean_std_and_seeds() -> None:
    lines = markdown({0: {"a": 0.5}, 1: {"a": 0.7}}).splitlines()
    assert lines[0] == "| stage | mean ± std | seeds 0, 1 |"
    assert lines[2] == "| a | 0.600 ± 0.141 | 0.500 / 0.700 |"
