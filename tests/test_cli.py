"""The ssl-kd command line as a user meets it: exit codes and one-line errors."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

from conftest import REPO, TINY_PIPELINE, write_pipeline


def _ssl_kd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ssl_kd", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_validate_ok_for_shipped_pipeline() -> None:
    result = _ssl_kd("validate", "pipelines/kd_digits.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "distill (train)" in result.stdout


def test_validate_misspelled_key_exits_nonzero_with_suggestion(tmp_path: Path) -> None:
    raw = copy.deepcopy(TINY_PIPELINE)
    raw["stages"][1]["temperature"] = raw["stages"][1].pop("epochs")
    raw["stages"][1]["tua"] = 2.0
    result = _ssl_kd("validate", str(write_pipeline(tmp_path / "typo.yaml", raw)))
    assert result.returncode == 2
    assert "unknown key 'tua' (did you mean 'tau'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_path_is_one_clear_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    result = _ssl_kd(
        "run",
        str(tiny_pipeline),
        "data.name=image_folder",
        "data.root=/no/such/dir",
        "--run-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(set(lines)) == 1, result.stderr
    assert "data.root '/no/such/dir' does not exist" in lines[0]


def test_list_shows_every_registry() -> None:
    result = _ssl_kd("list")
    assert result.returncode == 0
    for expected in (
        "models:",
        "resnet18",
        "mobilenet_v2",
        "alexnet",
        "methods:",
        "hinton_kd",
        "datasets:",
        "digits",
        "cifar10",
        "image_folder",
        "stages:",
        "probe",
    ):
        assert expected in result.stdout


def test_help_describes_overrides() -> None:
    result = _ssl_kd("run", "--help")
    assert result.returncode == 0 and "--from" in result.stdout and "--run-dir" in result.stdout


def test_dry_run_prints_plan(tiny_pipeline: Path, tmp_path: Path) -> None:
    result = _ssl_kd("run", str(tiny_pipeline), "--run-dir", str(tmp_path / "r"), "--dry-run")
    assert result.returncode == 0
    assert result.stdout.split() == ["teacher:", "run", "distill:", "run", "probe:", "run"]
