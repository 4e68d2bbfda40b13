"""The small ViT: shapes, taps, and attention maps consistent with its forward pass."""

from __future__ import annotations

import torch

from ssl_kd.models import build_model
from ssl_kd.models.vit import VisionTransformer


def _tiny() -> VisionTransformer:
    torch.manual_seed(0)
    return build_model("vit", 10, dim=16, depth=2, heads=2, patch_size=8).eval()


def test_taps_and_logits() -> None:
    model = _tiny()
    assert model.tap_names == ("embed", "block1", "block2", "features", "logits")
    taps = model.forward_taps(torch.randn(3, 3, 32, 32), ["embed", "block2", "features", "logits"])
    assert taps["embed"].shape == (3, 17, 16)  # [CLS] + 4x4 patches
    assert taps["features"].shape == (3, 16)
    assert taps["logits"].shape == (3, 10)


def test_forward_attention_matches_forward() -> None:
    model = _tiny()
    images = torch.randn(2, 3, 32, 32)
    out = model.forward_attention(images)
    assert torch.allclose(out.logits, model(images), atol=1e-5)
    assert [s.shape for s in out.scores] == [torch.Size([2, 2, 17, 17])] * 2
    assert [c.shape for c in out.cls] == [torch.Size([2, 16])] * 2
    assert torch.allclose(out.scores[0].softmax(-1).sum(-1), torch.ones(2, 2, 17))
    block1 = model.forward_taps(images, ["block1"])["block1"]
    assert torch.allclose(out.cls[0], block1[:, 0], atol=1e-6)


def test_rebuilds_from_spec() -> None:
    model = _tiny()
    rebuilt = build_model(**model.spec())
    rebuilt.load_state_dict(model.state_dict())
    assert isinstance(rebuilt, VisionTransformer) and rebuilt.num_layers == 2
