"""benchmarks/drkd_pilot.yaml: every setting is a valid drkd stage, and the KD zoo uses the chosen one."""

from __future__ import annotations

import yaml

from ssl_kd.config import load_pipeline

from conftest import REPO

PILOT = REPO / "benchmarks" / "drkd_pilot.yaml"
ZOO = REPO / "pipelines" / "kd_zoo_digits.yaml"


def test_every_setting_is_a_valid_drkd_stage_beside_its_student_alone() -> None:
    pipeline = load_pipeline(PILOT)
    stages = {stage.name: stage for stage in pipeline.stages}
    assert len(stages) == 2 * (1 + 9)
    assert stages["mbv2_alone"].method == "supervised" and stages["alexnet_alone"].epochs == 5
    late = stages["mbv2_add_a1_t2_lin_late"]
    assert late.ce_warmup_epochs == 3 and late.weighting == "additive" and late.epochs == 10
    assert stages["alexnet_add_a1_t2_lin_late"].ce_warmup_epochs == 2
    assert stages["alexnet_add_a1_t2_lin"].ce_warmup_epochs == 1
    assert pipeline.sweep.seed_keys == load_pipeline(ZOO).sweep.seed_keys  # each seed draws its labelled subset


def test_the_kd_zoo_drkd_stages_are_the_chosen_setting() -> None:
    pilot = {stage["name"]: stage for stage in yaml.safe_load(PILOT.read_text())["stages"]}
    zoo = {stage["name"]: stage for stage in yaml.safe_load(ZOO.read_text())["stages"]}
    for student in ("mbv2", "alexnet"):
        chosen = {key: value for key, value in pilot[f"{student}_add_a1_t2_lin"].items() if key != "name"}
        assert {key: value for key, value in zoo[f"{student}_drkd"].items() if key != "name"} == chosen
