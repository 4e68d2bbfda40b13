"""Video backbones (r2plus1d, x3d): (B, T, C, H, W) clips, taps, clip features, spec round trip."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.models import build_model

TINY = {"r2plus1d": {"width": 4}, "x3d": {"width_factor": 0.5, "depth_factor": 0.5, "head_dim": 16}}


@pytest.mark.parametrize("arch", sorted(TINY))
def test_clip_features_and_taps(arch: str) -> None:
    model = build_model(arch, 8, **TINY[arch]).eval()
    clips = torch.randn(2, 8, 3, 32, 32)
    taps = model.forward_taps(clips, ["stem", "features", "logits"])
    assert taps["stem"].ndim == 5 and taps["stem"].shape[2] == 8  # (B, C, T, H, W): time kept
    assert taps["features"].shape == (2, model.feature_dim)
    assert taps["logits"].shape == (2, 8)
    assert model(torch.randn(2, 4, 3, 32, 32)).shape == (2, 8)  # any clip length (adaptive pooling)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_spec_round_trip(arch: str) -> None:
    model = build_model(arch, 5, **TINY[arch]).eval()
    again = build_model(**model.spec())
    again.load_state_dict(model.state_dict())
    clips = torch.randn(1, 8, 3, 32, 32)
    assert torch.allclose(model(clips), again.eval()(clips))


def test_teacher_is_larger_than_student() -> None:
    def count(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    assert count(build_model("r2plus1d", 8, width=24)) > 8 * count(build_model("r2plus1d", 8, width=8))


@pytest.mark.parametrize("arch", sorted(TINY))
def test_headless_and_grey_clips(arch: str) -> None:
    headless = build_model(arch, 0, **TINY[arch]).eval()
    taps = headless.forward_taps(torch.randn(2, 4, 3, 32, 32), ["features", "logits"])
    assert torch.equal(taps["features"], taps["logits"])
    grey = build_model(arch, 3, in_channels=1, **TINY[arch]).eval()
    assert grey(torch.randn(2, 4, 1, 32, 32)).shape == (2, 3)
