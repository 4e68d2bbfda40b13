"""The self-supervised literature's 224-px AlexNet: tap shapes and the pooled dimensions of its linear protocol."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.evaluation.features import flatten_tap
from ssl_kd.evaluation.layer_probe import ALEXNET_GRIDS, LayerHeads
from ssl_kd.models import build_model

TAPS = {  # tap -> (map after its ReLU at 224 px, pooled dims of the protocol)
    "conv1": ((96, 55, 55), 9600),
    "conv2": ((256, 27, 27), 9216),
    "conv3": ((384, 13, 13), 9600),
    "conv4": ((384, 13, 13), 9600),
    "conv5": ((256, 13, 13), 9216),
}


@pytest.mark.parametrize("sobel", [False, True])
def test_tap_shapes_and_pooled_dimensions_at_224_px(sobel: bool) -> None:
    model = build_model("alexnet_ssl", 1000, sobel=sobel).eval()
    assert model.tap_names == ("conv1", "conv2", "conv3", "conv4", "conv5", "features", "logits")
    conv1 = model.blocks.conv1[1 if sobel else 0]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.stride) == (
        2 if sobel else 3,
        96,
        (11, 11),
        (4, 4),
    )
    assert all(isinstance(block[-2], torch.nn.BatchNorm2d) for block in model.blocks.values())
    with torch.no_grad():
        taps = model.forward_taps(torch.randn(2, 3, 224, 224), [*TAPS, "features", "logits"])
    for tap, (shape, dims) in TAPS.items():
        assert taps[tap].shape == (2, *shape) and taps[tap].min() >= 0  # after the ReLU
        assert flatten_tap(taps[tap], ALEXNET_GRIDS[tap]).shape == (2, dims)
    assert taps["features"].shape == (2, 4096) and taps["logits"].shape == (2, 1000)


def test_the_sobel_front_end_is_fixed_and_sees_only_edges() -> None:
    model = build_model("alexnet_ssl", 0, sobel=True)
    assert all("sobel" not in name.lower() for name, _ in model.named_parameters())
    flat = torch.full((1, 3, 16, 16), 0.7)
    edges = model.blocks.conv1[0](flat)
    assert edges.shape == (1, 2, 16, 16) and edges[..., 1:-1, 1:-1].abs().max() < 1e-6


def test_layer_heads_read_the_pooled_maps() -> None:
    heads = LayerHeads({"conv1": 96, "conv5": 256}, ALEXNET_GRIDS, 7)
    assert heads.heads["conv1"][-1].in_features == 9600 and heads.heads["conv5"][-1].in_features == 9216
    out = heads({"conv1": torch.randn(3, 96, 55, 55), "conv5": torch.randn(3, 256, 13, 13)})
    assert {tap: value.shape for tap, value in out.items()} == {"conv1": (3, 7), "conv5": (3, 7)}
