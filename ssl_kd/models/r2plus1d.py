"""A small R(2+1)D-style video network for CPU: every 3D conv factorised into a spatial 1x3x3 and a temporal 3x1x1
conv (Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR 2018).

Input: ``(B, T, C, H, W)`` clips. Blocks: ``stem`` (width channels, spatial stride ``stem_stride``),
``stage1``..``stage3`` (2x, 4x, 8x width, spatial stride 2 each, time kept), each ``depth`` factorised conv units
(residual after the first). A stride-2 stem is about 4x faster than stride 1 at 32 x 32 and learned the pretext tasks
as fast. Pool: global average over time and space; features are ``8 * width``-d. Weights are channels_last_3d.

On the moving digits this net learns rotation prediction within ~50 SGD steps, where pytorchvideo's X3D (also
registered, as ``x3d``) stayed at chance for 150 steps at the same learning rate; hence the video pipelines use it.
Measured on 2 shared CPU cores, 8 x 32 x 32 clips, batch 32, float32 (clips/s; train = fwd + bwd + SGD step)::

    width  depth  params  train  infer
    8      1       42k     611   4227
    16     1      164k     414   2061
    24     1      368k     214   1011
"""

from __future__ import annotations

from torch import Tensor, nn

from ssl_kd.models.base import BackboneModel
from ssl_kd.models.x3d import TimeBehindChannels, VideoBackbone
from ssl_kd.registry import MODELS


class Factorised(nn.Module):
    """Spatial 1x3x3 conv (stride ``stride`` in H, W) + BN + ReLU, then temporal 3x1x1 conv + BN (+ residual) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.spatial = nn.Sequential(
            nn.Conv3d(in_channels, out_channels, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.temporal = nn.Sequential(
            nn.Conv3d(out_channels, out_channels, (3, 1, 1), 1, (1, 0, 0), bias=False), nn.BatchNorm3d(out_channels)
        )
        self.residual = in_channels == out_channels and stride == 1
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.temporal(self.spatial(x))
        return self.act(out + x if self.residual else out)


def _stage(in_channels: int, out_channels: int, stride: int, depth: int) -> nn.Sequential:
    units = [Factorised(in_channels, out_channels, stride)]
    units += [Factorised(out_channels, out_channels, 1) for _ in range(depth - 1)]
    return nn.Sequential(*units)


@MODELS.register("r2plus1d")
def r2plus1d(
    num_classes: int, width: int = 16, depth: int = 1, stem_stride: int = 2, in_channels: int = 3
) -> BackboneModel:
    """Small R(2+1)D video network (width 16, depth 1: 0.16M parameters; features 8 * width)."""
    widths = [width, 2 * width, 4 * width, 8 * width]
    blocks = {
        "stem": nn.Sequential(TimeBehindChannels(), _stage(in_channels, widths[0], stem_stride, depth)),
        "stage1": _stage(widths[0], widths[1], 2, depth),
        "stage2": _stage(widths[1], widths[2], 2, depth),
        "stage3": _stage(widths[2], widths[3], 2, depth),
    }
    pool = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(1))
    return VideoBackbone(blocks, pool, widths[-1], num_classes)
