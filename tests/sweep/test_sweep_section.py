"""The pipeline's ``sweep:`` section: strict validation, and no effect on fingerprints or on ``ssl-kd run``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.scheduler import fingerprints

from conftest import REPO, TINY_PIPELINE, write_pipeline


def test_section_is_read_with_defaults(tmp_path: Path) -> None:
    assert load_pipeline(write_pipeline(tmp_path / "a.yaml", TINY_PIPELINE)).sweep.seed_keys == ["engine.seed"]
    raw = {**TINY_PIPELINE, "sweep": {"seed_keys": ["engine.seed", "data.subset_seed"], "fixed_seed_stages": []}}
    section = load_pipeline(write_pipeline(tmp_path / "b.yaml", raw)).sweep
    assert (section.seed_keys, section.fixed_seed_stages) == (["engine.seed", "data.subset_seed"], [])


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"seed_key": ["engine.seed"]}, "sweep: unknown key 'seed_key' (did you mean 'seed_keys'?)"),
        ({"fixed_seed_stages": ["teachr"]}, "no stage named 'teachr' (did you mean 'teacher'?)"),
        ({"seed_keys": ["engin.seed"]}, "no stage has a key 'engin' (did you mean 'engine'?)"),
        ({"seed_keys": "engine.seed"}, "sweep.seed_keys must be a list of strings"),
        ({"seed_keys": []}, "must name at least one key"),
        (["engine.seed"], "'sweep' must be a mapping"),
    ],
)
def test_bad_sections_are_one_line_errors(tmp_path: Path, section: object, message: str) -> None:
    path = write_pipeline(tmp_path / "bad.yaml", {**TINY_PIPELINE, "sweep": section})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")) as err:
        load_pipeline(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_kd_digits_fingerprints_do_not_depend_on_its_sweep_section(tmp_path: Path) -> None:
    shipped = REPO / "pipelines" / "kd_digits.yaml"
    raw = yaml.safe_load(shipped.read_text())
    assert raw["sweep"] == {"seed_keys": ["engine.seed"], "fixed_seed_stages": ["teacher"]}
    del raw["sweep"]
    without = write_pipeline(tmp_path / "kd_digits.yaml", raw)
    assert fingerprints(load_pipeline(shipped)) == fingerprints(load_pipeline(without))
