"""Tests of frozen-feature extraction and the .npz feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ssl_kd.errors import ConfigError, DataError
from ssl_kd.evaluation.features import extract_features, load_features, save_features


class TapModel(nn.Module):
    """Returns a 4-D map (the image repeated over 3 channels) and a 2-D vector per image."""

    def forward_taps(self, x: Tensor, names: list[str]) -> dict[str, Tensor]:
        outputs = {"conv": x.repeat(1, 3, 1, 1), "features": x.flatten(1)[:, :5]}
        return {name: outputs[name] for name in names}


def _loader() -> list[tuple[Tensor, Tensor, str]]:
    images = torch.arange(5 * 4 * 4, dtype=torch.float32).reshape(5, 1, 4, 4)
    labels = torch.tensor([0, 1, 2, 1, 0])
    return [(images[:3], labels[:3], "extra"), (images[3:], labels[3:], "extra")]


@pytest.mark.parametrize("pool_size", [1, 2])
def test_extract_pools_and_flattens_taps(pool_size: int) -> None:
    names = ("conv", "features")
    taps, labels = extract_features(TapModel(), _loader(), names, pool_size=pool_size, progress=False)
    images = torch.cat([batch[0] for batch in _loader()])
    assert taps["conv"].shape == (5, 3 * pool_size**2)
    assert taps["features"].shape == (5, 5)
    assert taps["conv"].dtype == torch.float32 and taps["conv"].device.type == "cpu"
    expected = torch.nn.functional.adaptive_avg_pool2d(images, pool_size).flatten(1)
    assert torch.equal(taps["conv"][:, : pool_size**2], expected)
    assert labels.tolist() == [0, 1, 2, 1, 0]


def test_extract_reports_missing_tap() -> None:
    class PartialModel(TapModel):
        def forward_taps(self, x: Tensor, names: list[str]) -> dict[str, Tensor]:
            return {"features": x.flatten(1)}

    with pytest.raises(ConfigError, match="conv"):
        extract_features(PartialModel(), _loader(), ("conv",), progress=False)


def test_save_load_round_trip(tmp_path: Path) -> None:
    features, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    path = tmp_path / "nested" / "train.npz"
    save_features(path, features, labels)
    loaded_features, loaded_labels = load_features(path)
    assert torch.equal(loaded_features, features) and torch.equal(loaded_labels, labels)
    assert loaded_labels.dtype == torch.int64
    assert [p.name for p in path.parent.iterdir()] == ["train.npz"]


def test_load_missing_file_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="feature file not found"):
        load_features(tmp_path / "absent.npz")


def test_load_rejects_foreign_npz(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(DataError, match="not a feature file"):
        load_features(path)
