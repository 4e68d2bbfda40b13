"""Grid expansion and naming: YAML-typed values, short keys, sanitised names, seed overrides per stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.sweep.grid import expand, grid_points, parse_grid, sanitise, seed_overrides

from conftest import TINY_PIPELINE, write_pipeline


@pytest.fixture
def fixed_teacher(tmp_path: Path) -> Path:
    return write_pipeline(tmp_path / "tiny.yaml", {**TINY_PIPELINE, "sweep": {"fixed_seed_stages": ["teacher"]}})


def test_values_are_yaml_typed() -> None:
    axis = parse_grid("distill.tau=2, 4.5 ,true,mobilenet_v2")
    assert axis.key == "distill.tau"
    assert axis.values == (2, 4.5, True, "mobilenet_v2")
    assert axis.texts == ("2", "4.5", "true", "mobilenet_v2")


@pytest.mark.parametrize("spec", ["tau", "=1,2", "distill.tau=", "distill.tau=1,,2", "distill..tau=1", "a.b=1,1"])
def test_bad_grid_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="--grid"):
        parse_grid(spec)


def test_points_are_the_product_with_short_names_last_axis_fastest() -> None:
    points = grid_points([parse_grid("distill.tau=2,4"), parse_grid("distill.alpha=0.5,0.9")])
    assert [name for name, _ in points] == [
        "tau=2,alpha=0.5",
        "tau=2,alpha=0.9",
        "tau=4,alpha=0.5",
        "tau=4,alpha=0.9",
    ]
    assert points[1][1] == ("distill.tau=2", "distill.alpha=0.9")


def test_keys_sharing_a_last_part_keep_their_full_names() -> None:
    names = [name for name, _ in grid_points([parse_grid("teacher.epochs=1"), parse_grid("distill.epochs=2,3")])]
    assert names == ["teacher.epochs=1,distill.epochs=2", "teacher.epochs=1,distill.epochs=3"]


def test_names_are_sanitised_for_the_file_system() -> None:
    assert sanitise("root=/data/x y") == "root=_data_x_y"
    assert sanitise(".hidden") == "_hidden"
    assert grid_points([parse_grid("data.root=/a/b,/c")])[0][0] == "root=_a_b"
    with pytest.raises(ConfigError, match="both named 'root=a_b'"):
        grid_points([parse_grid("data.root=a/b,a b")])


def test_no_grid_is_one_default_point_and_a_repeated_key_is_an_error() -> None:
    assert grid_points([]) == [("default", ())]
    with pytest.raises(ConfigError, match="twice"):
        grid_points([parse_grid("distill.tau=1,2"), parse_grid("distill.tau=3")])


def test_seed_goes_to_every_stage_but_the_fixed_ones(fixed_teacher: Path) -> None:
    pipeline = load_pipeline(fixed_teacher)
    assert seed_overrides(pipeline, 3) == ("distill.engine.seed=3", "probe.engine.seed=3")
    seeded = load_pipeline(fixed_teacher, seed_overrides(pipeline, 3))
    assert [stage.engine.seed for stage in seeded.stages] == [0, 3, 3]


def test_expand_names_runs_and_orders_overrides(fixed_teacher: Path) -> None:
    runs = expand(load_pipeline(fixed_teacher), [parse_grid("distill.tau=2,4")], [0, 1], ["distill.epochs=1"])
    assert [run.name for run in runs] == ["tau=2/seed=0", "tau=2/seed=1", "tau=4/seed=0", "tau=4/seed=1"]
    assert runs[3].overrides == ("distill.epochs=1", "distill.tau=4", "distill.engine.seed=1", "probe.engine.seed=1")
    with pytest.raises(ConfigError, match="--seeds"):
        expand(load_pipeline(fixed_teacher), [], [1, 1], [])
