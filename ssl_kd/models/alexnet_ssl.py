"""The self-supervised literature's AlexNet for 224-px inputs (``alexnet_ssl``), beside the small-input ``alexnet``.

This is the trunk of DeepCluster (Caron et al., ECCV 2018, arXiv 1807.05520) as VISSL ships it
(``alexnet_deepcluster``), the AlexNet whose conv1..conv5 linear probes the self-supervised papers tabulate (ReKD,
arXiv 2112.04174: 44.7 -> 50.1, supervised 50.5): AlexNet's channels and kernels with BatchNorm after every conv.

    conv1  Conv 96, 11x11 stride 4 pad 2 + BN + ReLU            3x224x224 -> 96x55x55
    conv2  MaxPool 3/2, Conv 256, 5x5 pad 2 + BN + ReLU                  -> 256x27x27
    conv3  MaxPool 3/2, Conv 384, 3x3 pad 1 + BN + ReLU                  -> 384x13x13
    conv4  Conv 384, 3x3 pad 1 + BN + ReLU                               -> 384x13x13
    conv5  Conv 256, 3x3 pad 1 + BN + ReLU                               -> 256x13x13
    pool   MaxPool 3/2 (256x6x6; adaptive to 6x6 at other sizes), flatten,
           fc6 and fc7 (Dropout, Linear 4096, ReLU)                     -> features (4096)

Each conv tap is the map after its ReLU and before the next max-pool, as in VISSL's linear protocol
(:mod:`ssl_kd.evaluation.layer_probe`). With ``sobel: true`` a fixed front end turns the image into the two
Sobel gradients of its grey level (DeepCluster's input), and conv1 takes those 2 channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.models.base import BackboneModel
from ssl_kd.registry import MODELS

CONVS = (  # (out channels, kernel, stride, padding, max-pool before)
    (96, 11, 4, 2, False),
    (256, 5, 1, 2, True),
    (384, 3, 1, 1, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
)
FC_DIM = 4096


class Sobel(nn.Module):
    """Fixed grey-level + Sobel front end: ``(B, 3, H, W) -> (B, 2, H, W)`` (x and y gradients of the mean channel).

    DeepCluster's ``sobel`` layers (a 1x1 conv averaging the channels, then the two 3x3 Sobel kernels), held as
    buffers so that no optimiser touches them.
    """

    def __init__(self) -> None:
        super().__init__()
        kernel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.register_buffer("grey", torch.full((1, 3, 1, 1), 1.0 / 3.0))
        self.register_buffer("kernels", torch.stack([kernel, kernel.t()]).unsqueeze(1))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(x, self.grey), self.kernels, padding=1)


def _conv_block(
    in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, pool_first: bool
) -> nn.Sequential:
    layers: list[nn.Module] = [nn.MaxPool2d(3, 2)] if pool_first else []
    layers += [
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    return nn.Sequential(*layers)


@MODELS.register("alexnet_ssl")
def alexnet_ssl(
    num_classes: int, sobel: bool = False, dropout: float = 0.5, fc_dim: int = FC_DIM, in_channels: int = 3
) -> BackboneModel:
    """The self-supervised literature's 224-px AlexNet (DeepCluster / VISSL trunk; BatchNorm after every conv).

    Args:
        num_classes: Classes of the linear classifier on fc7 (0: headless, features are fc7's 4096 values).
        sobel: Put the fixed Sobel front end before conv1 (DeepCluster's input).
        dropout: Dropout before fc6 and fc7.
        fc_dim: Width of fc6 and fc7 (AlexNet's 4096; smaller only to keep tiny test runs light).
        in_channels: Image channels (ignored with ``sobel``, whose output is 2 channels).
    """
    blocks: dict[str, nn.Module] = {}
    previous = 2 if sobel else in_channels
    for index, (out_channels, kernel, stride, padding, pool_first) in enumerate(CONVS, start=1):
        block = _conv_block(previous, out_channels, kernel, stride, padding, pool_first)
        blocks[f"conv{index}"] = nn.Sequential(Sobel(), *block) if sobel and index == 1 else block
        previous = out_channels
    pool = nn.Sequential(
        nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d(6),  # a no-op at 224 px (6x6 already); lets other sizes reach fc6
        nn.Flatten(1),
        nn.Dropout(dropout),
        nn.Linear(previous * 6 * 6, fc_dim),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(fc_dim, fc_dim),
        nn.ReLU(inplace=True),
    )
    return BackboneModel(blocks, pool, fc_dim, num_classes)
