"""X3D video backbones (pytorchvideo's ``create_x3d``, from scratch) sized for CPU, as :class:`BackboneModel`.

Input: ``(B, T, C, H, W)`` clips (the layout of ``tv_tensors.Video`` batches); the ``stem`` block moves time behind
the channels, ``(B, C, T, H, W)``, as pytorchvideo expects. Blocks: ``stem``, ``stage1``..``stage4`` (spatial
stride 2 each, temporal stride 1). Pool: X3D's projected pool (1x1x1 conv + BN + ReLU, global average over time and
space, 1x1x1 conv + ReLU) with the fixed-size average pool replaced by an adaptive one, so any clip length and size
work; features are ``head_dim``-d. X3D's dropout and softmax head are dropped (the classifier is a plain Linear).
On the moving digits X3D stayed at chance on rotation prediction for 150 SGD steps (lr 0.05, and AdamW 3e-3), where
the small ``r2plus1d`` learned it in about 50, so the video pipelines use ``r2plus1d``.

Measured on 2 shared CPU cores, 8 x 32 x 32 clips, batch 32, float32 (clips/s; train = fwd + bwd + SGD step)::

    width  depth  head_dim  params   train  infer
    0.5    0.5    128        67k      124   1663
    1.0    1.0    256       319k       58    618
    2.0    2.2    432       2.3M       18    244
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from ssl_kd.models.base import BackboneModel
from ssl_kd.registry import MODELS

with warnings.catch_warnings():  # pytorchvideo 0.1.5 decorates helpers with the deprecated torch.jit.script
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    from pytorchvideo.models.x3d import create_x3d

STAGES = ("stage1", "stage2", "stage3", "stage4")


class TimeBehindChannels(nn.Module):
    """``(B, T, C, H, W) -> (B, C, T, H, W)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2)


class VideoBackbone(BackboneModel):
    """A :class:`BackboneModel` over 5-d clips (weights in ``channels_last_3d``)."""

    memory_format = torch.channels_last_3d


@MODELS.register("x3d")
def x3d(
    num_classes: int,
    width_factor: float = 1.0,
    depth_factor: float = 1.0,
    head_dim: int = 256,
    bottleneck_factor: float = 2.25,
    in_channels: int = 3,
) -> BackboneModel:
    """X3D video network (default width/depth 1.0: 0.32M parameters; 0.5/0.5 with head_dim 128: 67k)."""
    net = create_x3d(
        input_channel=in_channels,
        input_clip_length=8,
        input_crop_size=32,
        model_num_class=1,
        width_factor=width_factor,
        depth_factor=depth_factor,
        bottleneck_factor=bottleneck_factor,
        head_dim_out=head_dim,
        head_activation=None,
    )
    stem, *stages, head = net.blocks
    projected = head.pool
    pool = nn.Sequential(
        projected.pre_conv,
        projected.pre_norm,
        projected.pre_act,
        nn.AdaptiveAvgPool3d(1),
        projected.post_conv,
        projected.post_act,
        nn.Flatten(1),
    )
    blocks = {"stem": nn.Sequential(TimeBehindChannels(), stem), **dict(zip(STAGES, stages, strict=True))}
    return VideoBackbone(blocks, pool, head_dim, num_classes)
