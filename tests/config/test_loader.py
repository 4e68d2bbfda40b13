"""Pipeline loading: defaults, overrides, references and error messages that name file, stage and key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError

from conftest import REPO, TINY_PIPELINE, write_pipeline


def _pipeline(tmp_path: Path, edit) -> Path:
    raw = copy.deepcopy(TINY_PIPELINE)
    edit(raw)
    return write_pipeline(tmp_path / "p.yaml", raw)


def test_shipped_pipeline_validates() -> None:
    pipeline = load_pipeline(REPO / "pipelines" / "kd_digits.yaml")
    assert pipeline.stage_names == ["teacher", "distill", "probe"]
    assert pipeline.stage("distill").teacher.from_ == "teacher"


def test_defaults_merge_under_stage_values(tiny_pipeline: Path) -> None:
    pipeline = load_pipeline(tiny_pipeline, ["teacher.data.batch_size=7"])
    assert pipeline.stage("teacher").data.batch_size == 7
    assert pipeline.stage("distill").data.batch_size == 10
    assert pipeline.stage("distill").data.train_per_class == 3


def test_unknown_stage_key_names_key_stage_file_and_suggestion(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][1].update(epochss=3))
    with pytest.raises(ConfigError) as err:
        load_pipeline(path)
    message = str(err.value)
    assert str(path) in message and "'distill'" in message
    assert "'epochss'" in message and "did you mean 'epochs'" in message


def test_unknown_nested_key_suggests_sibling(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][1]["student"].update(arhc="alexnet"))
    with pytest.raises(ConfigError, match=r"student\.arhc.*did you mean 'arch'"):
        load_pipeline(path)


def test_wrong_type_is_reported_with_key(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][0].update(epochs="many"))
    with pytest.raises(ConfigError, match=r"'teacher': epochs: .*integer.*'many'"):
        load_pipeline(path)


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda raw: raw["stages"][1].update(method="hinton_kdd"), "did you mean 'hinton_kd'"),
        (lambda raw: raw["stages"][0]["model"].update(arch="resnet19"), "did you mean 'resnet18'"),
        (lambda raw: raw["stages"][2].update(kind="prob"), "did you mean 'probe'"),
        (lambda raw: raw.update(stagess=[]), "did you mean 'stages'"),
        (lambda raw: raw["defaults"].update(optimm={}), "did you mean 'optim'"),
    ],
)
def test_unknown_names_get_suggestions(tmp_path: Path, edit, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_pipeline(_pipeline(tmp_path, edit))


def test_explicit_null_replaces_a_default_and_an_empty_section_keeps_them(tmp_path: Path) -> None:
    def edit(raw: dict) -> None:
        raw["stages"][0]["data"] = {"train_per_class": None}
        raw["stages"][1]["data"] = None  # `data:` with nothing under it

    stages = {stage.name: stage for stage in load_pipeline(_pipeline(tmp_path, edit)).stages}
    assert stages["teacher"].data.train_per_class is None
    assert stages["teacher"].data.batch_size == TINY_PIPELINE["defaults"]["data"]["batch_size"]
    assert stages["distill"].data.train_per_class == TINY_PIPELINE["defaults"]["data"]["train_per_class"]


def test_labelled_per_class_needs_a_method_that_uses_unlabelled_samples(tmp_path: Path) -> None:
    def semi(raw: dict) -> None:
        raw["defaults"]["data"].pop("train_per_class")
        raw["stages"][0].update(method="dml", peers=[raw["stages"][0].pop("model")] * 2)
        raw["stages"][0]["data"] = {"labelled_per_class": 3}

    with pytest.raises(ConfigError, match=r"method 'dml' cannot use unlabelled samples.*graph_distill, hinton_kd"):
        load_pipeline(_pipeline(tmp_path, semi))


def test_probe_rejects_labelled_per_class(tmp_path: Path) -> None:
    def semi(raw: dict) -> None:
        raw["defaults"]["data"].pop("train_per_class")
        raw["stages"][2]["data"] = {"labelled_per_class": 2}

    path = _pipeline(tmp_path, semi)
    with pytest.raises(ConfigError, match="a probe draws its own labelled shots"):
        load_pipeline(path)


def test_reference_to_unknown_stage(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][1]["teacher"].update({"from": "teachr"}))
    with pytest.raises(ConfigError, match=r"teacher\.from: 'teachr' is not a stage \(did you mean 'teacher'\?\)"):
        load_pipeline(path)


def test_reference_to_later_stage(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][1]["teacher"].update({"from": "probe"}))
    with pytest.raises(ConfigError, match="comes later"):
        load_pipeline(path)


def test_reference_to_stage_without_model(tmp_path: Path) -> None:
    def edit(raw: dict) -> None:
        raw["stages"].append({"name": "probe2", "kind": "probe", "model": {"from": "probe"}})

    with pytest.raises(ConfigError, match="provides no model"):
        load_pipeline(_pipeline(tmp_path, edit))


def test_model_spec_needs_arch_or_from(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][1].update(teacher={}))
    with pytest.raises(ConfigError, match="give 'arch'"):
        load_pipeline(path)


def test_model_spec_options_only_for_new_models(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][1]["teacher"].update(options={"stem": "small"}))
    with pytest.raises(ConfigError, match="'options' only apply"):
        load_pipeline(path)


def test_overrides_by_stage_broadcast_and_defaults(tiny_pipeline: Path) -> None:
    pipeline = load_pipeline(
        tiny_pipeline, ["distill.epochs=5", "student.arch=alexnet", "defaults.data.batch_size=8", "tau=2"]
    )
    assert pipeline.stage("distill").epochs == 5
    assert pipeline.stage("teacher").epochs == 2
    assert pipeline.stage("distill").student.arch == "alexnet"
    assert pipeline.stage("distill").tau == 2.0
    assert all(stage.data.batch_size == 8 for stage in pipeline.stages)


def test_override_value_types_are_parsed(tiny_pipeline: Path) -> None:
    pipeline = load_pipeline(tiny_pipeline, ["probe.shots=[1, 3]", "engine.grad_clip=1.5", "engine.amp=bf16"])
    assert pipeline.stage("probe").shots == [1, 3]
    assert pipeline.stage("teacher").engine.grad_clip == 1.5


def test_unknown_override_key_is_rejected_with_suggestion(tiny_pipeline: Path) -> None:
    with pytest.raises(ConfigError, match=r"no stage .* has a key 'studnet' \(did you mean 'student'\?\)"):
        load_pipeline(tiny_pipeline, ["studnet.arch=alexnet"])


def test_malformed_override(tiny_pipeline: Path) -> None:
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        load_pipeline(tiny_pipeline, ["distill.epochs"])


def test_missing_data_root_is_a_config_error(tiny_pipeline: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.root '/no/such/place' does not exist"):
        load_pipeline(tiny_pipeline, ["data.name=image_folder", "data.root=/no/such/place"])


def test_dataset_needing_root(tiny_pipeline: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs data\.root"):
        load_pipeline(tiny_pipeline, ["data.name=cifar10"])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(bad)


def test_duplicate_stage_names(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, lambda raw: raw["stages"][1].update(name="teacher"))
    with pytest.raises(ConfigError, match="two stages are named 'teacher'"):
        load_pipeline(path)
