"""End-to-end tests of ``python -m eval.linear_probe`` and ``python -m eval.knn`` on small feature files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ssl_kd.evaluation.features import save_features

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def feature_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("feats")
    centres = torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 5
    for name, seed in (("train", 1), ("test", 2)):
        y = torch.arange(60) % 3
        x = centres[y] + torch.randn(60, 8, generator=torch.Generator().manual_seed(seed))
        save_features(root / f"{name}.npz", x, y)
    return root / "train.npz", root / "test.npz"


def test_linear_probe_cli_writes_metrics(feature_files: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = feature_files
    out = tmp_path / "linear.json"
    files = ["--train", str(train), "--test", str(test), "--json", str(out)]
    result = _run("eval.linear_probe", *files, "--shots", "1", "2", "--draws", "2")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text())
    assert set(metrics) == {
        "linear_top1",
        "linear_top5",
        "linear_weight_decay",
        "linear_top1_1shot",
        "linear_top1_1shot_std",
        "linear_top1_2shot",
        "linear_top1_2shot_std",
    }
    assert metrics["linear_top1"] >= 0.95 and metrics["linear_top5"] == 1.0
    assert "linear_top1_2shot" in result.stdout


def test_knn_cli_writes_metrics(feature_files: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = feature_files
    out = tmp_path / "knn.json"
    args = ["--train", str(train), "--test", str(test), "--k", "5", "--backend", "torch", "--json", str(out)]
    result = _run("eval.knn", *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["knn_top1"] >= 0.95
    assert "knn_top1" in result.stdout


def test_missing_file_is_one_line_exit_2(feature_files: tuple[Path, Path], tmp_path: Path) -> None:
    missing = tmp_path / "absent.npz"
    result = _run("eval.linear_probe", "--train", str(missing), "--test", str(feature_files[1]))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: feature file not found: {missing}"]


def test_bad_setting_is_one_line_exit_2(feature_files: tuple[Path, Path]) -> None:
    train, test = feature_files
    result = _run("eval.knn", "--train", str(train), "--test", str(test), "--temperature", "0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: knn_temperature must be positive, got 0.0"]
