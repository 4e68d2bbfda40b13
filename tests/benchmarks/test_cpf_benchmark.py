"""The CPF benchmark pipelines keep the shipped stages, and the pilot grid reads as one change per setting."""

from __future__ import annotations

from benchmarks.cpf import pilot_settings, setting_changes
from ssl_kd.config import load_pipeline
from ssl_kd.scheduler import fingerprints, semantic_config

from conftest import REPO

PILOT = REPO / "benchmarks" / "cpf_pilot.yaml"


def test_benchmark_pipeline_has_the_shipped_stages_unchanged() -> None:
    shipped = fingerprints(load_pipeline(REPO / "pipelines" / "cpf_digits_graph.yaml"))
    benchmark = fingerprints(load_pipeline(REPO / "benchmarks" / "cpf.yaml"))
    assert {name: benchmark[name] for name in shipped} == shipped
    assert set(benchmark) - set(shipped) == {"plp_only_gcn", "ft_only_gcn"}


def test_the_shipped_students_are_the_pilot_setting_they_were_chosen_as() -> None:
    shipped, pilot = load_pipeline(REPO / "pipelines" / "cpf_digits_graph.yaml"), load_pipeline(PILOT)
    for ptype in ("ind", "tra"):
        chosen = semantic_config(pilot.stage(f"cpf_{ptype}_dropout02"))
        assert {**chosen, "name": None} == {**semantic_config(shipped.stage(f"cpf_{ptype}_gcn")), "name": None}


def test_pilot_settings_pair_each_teacher_with_both_students_and_name_their_one_change() -> None:
    pilot = load_pipeline(PILOT)
    settings = pilot_settings(pilot)
    assert settings["code_defaults"] == ("gcn", "cpf_ind_code_defaults", "cpf_tra_code_defaults")
    assert settings["knn5"] == ("gcn_knn5", "cpf_ind_knn5", "cpf_tra_knn5")
    assert len(settings) == 8
    assert setting_changes(pilot, "code_defaults") == "(CPF's code defaults)"
    assert setting_changes(pilot, "patience100") == "`early_stopping.patience=100`"
    assert setting_changes(pilot, "knn5") == "`data.knn=5`, `early_stopping.patience=100`"
    assert "`student.options.steps=5`" in setting_changes(pilot, "k5")
