"""Two-view SSL augmentations: two different views of one image, reproducible under a seed, both presets."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.config.schema import DataConfig
from ssl_kd.data import load_splits
from ssl_kd.data.views import ViewsConfig, two_views


@pytest.mark.parametrize("preset", ["digits", "natural"])
def test_two_different_normalised_views(preset: str) -> None:
    splits = load_splits(DataConfig(train_per_class=1))
    transform = two_views(ViewsConfig(preset=preset), 32, splits.mean, splits.std)
    image = splits.train[0][0]
    torch.manual_seed(0)
    first, second = transform(image)
    assert first.shape == second.shape == (3, 32, 32) and first.dtype == torch.float32
    assert not torch.equal(first, second)
    torch.manual_seed(0)
    again = transform(image)
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])


def test_digits_preset_never_flips() -> None:
    assert "Flip" not in repr(two_views(ViewsConfig(preset="digits"), 32, (0.5,) * 3, (0.2,) * 3))
    assert "Flip" in repr(two_views(ViewsConfig(preset="natural"), 32, (0.5,) * 3, (0.2,) * 3))
