"""Probe hyper-parameters are chosen on a split of the training data and never see the test split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import eval.linear_probe
import eval.sklearn_probe
from ssl_kd.evaluation import linear_probe as probe_module
from ssl_kd.evaluation.features import load_features, save_features


def _blobs(seed: int, n: int = 90, dim: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, dim, generator=torch.Generator().manual_seed(0)) * 2
    y = torch.arange(n) % 3
    return centres[y] + torch.randn(n, dim, generator=generator) * 1.5, y


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    train_x, train_y = _blobs(1)
    test_x, test_y = _blobs(2)
    paths = {name: tmp_path / f"{name}.npz" for name in ("train", "test", "poisoned")}
    save_features(paths["train"], train_x, train_y)
    save_features(paths["test"], test_x, test_y)
    # a test split the selection would react to: shuffled labels and rescaled, shifted features
    save_features(paths["poisoned"], test_x * 100 + 7, test_y[torch.randperm(len(test_y))])
    return paths


@pytest.mark.parametrize(("module", "key"), [(eval.linear_probe, "linear"), (eval.sklearn_probe, "sklearn")])
def test_chosen_weight_decay_does_not_depend_on_the_test_split(
    module, key: str, files: dict[str, Path], tmp_path: Path
) -> None:
    chosen = []
    for test in ("test", "poisoned"):
        out = tmp_path / f"{key}_{test}.json"
        extra = ["--shots"] if module is eval.linear_probe else []
        module.main(["--train", str(files["train"]), "--test", str(files[test]), *extra, "--json", str(out)])
        chosen.append(json.loads(out.read_text())[f"{key}_weight_decay"])
    assert chosen[0] == chosen[1]


def test_selection_sees_only_training_rows(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.Tensor] = []
    select = probe_module.select_weight_decay

    def spy(x: torch.Tensor, *args, **kwargs) -> float:
        seen.append(x)
        return select(x, *args, **kwargs)

    monkeypatch.setattr(probe_module, "select_weight_decay", spy)
    eval.linear_probe.main(["--train", str(files["train"]), "--test", str(files["test"]), "--shots"])
    assert len(seen) == 1 and torch.equal(seen[0], load_features(files["train"])[0])


def test_sklearn_cross_check_agrees_with_the_linear_probe(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "sklearn.json"
    argv = ["--train", str(files["train"]), "--test", str(files["test"]), "--compare", "--max-gap", "0.02"]
    eval.sklearn_probe.main([*argv, "--json", str(out)])
    metrics = json.loads(out.read_text())
    assert {"sklearn_top1", "sklearn_top5", "sklearn_C", "linear_top1", "top1_gap"} <= set(metrics)
    assert metrics["sklearn_weight_decay"] == metrics["linear_weight_decay"]
    assert metrics["top1_gap"] <= 0.02
