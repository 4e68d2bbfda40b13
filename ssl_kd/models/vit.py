"""A small vision transformer for 32x32 inputs that exposes its attention maps.

Blocks: ``embed`` (patchify conv + [CLS] token + learned positions, output (B, T, D) with T = 1 + (S / P)^2),
then ``block1`` .. ``blockL`` (pre-norm transformer layers, (B, T, D) -> (B, T, D)). Pool: final LayerNorm, then
the [CLS] token, so features are ``dim``-d. Every block name is a tap, so hint/feature methods work as for CNNs.

Attention maps for internal-representation distillation (docs/methods/internal_kd.md) come from
:meth:`VisionTransformer.forward_attention`: per layer, the pre-softmax, pre-dropout attention *scores*
(B, H, T, T) (the probabilities are their softmax over the last axis) and the [CLS] hidden state (B, D) after the
layer. Any model offering the same method can be distilled by ``internal_kd``.

Defaults (dim 128, depth 4, 4 heads, patch 4, MLP ratio 2: 0.55M parameters) are a digits-sized teacher;
``depth=2`` gives a student with the same width and heads, as in the paper's BERT-base -> BERT6 setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ssl_kd.models.base import BackboneModel
from ssl_kd.registry import MODELS


@dataclass
class AttentionOutput:
    """What :meth:`VisionTransformer.forward_attention` returns (lists ordered from the first layer)."""

    logits: Tensor
    scores: list[Tensor]
    cls: list[Tensor]


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> linear embedding, with a prepended [CLS] token and learned positions."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, image_size: int) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.positions = nn.Parameter(torch.zeros(1, 1 + (image_size // patch_size) ** 2, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.positions, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, S, S) images -> (B, T, D) tokens."""
        tokens = self.proj(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.positions


class TransformerBlock(nn.Module):
    """Pre-norm transformer layer: x + MHSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        return self.forward_with_attention(x)[0]

    def forward_with_attention(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The layer output and its pre-softmax attention scores (B, H, T, T)."""
        batch, tokens, dim = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(batch, tokens, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) * self.scale
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, tokens, dim)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x)), scores


class ClsPool(nn.Module):
    """Final LayerNorm, then the [CLS] token: (B, T, D) -> (B, D)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x)[:, 0]


class VisionTransformer(BackboneModel):
    """A :class:`BackboneModel` whose transformer layers also report attention scores and [CLS] states."""

    @property
    def num_layers(self) -> int:
        """Number of transformer layers (``block1`` .. ``blockL``)."""
        return len(self.blocks) - 1

    def forward_attention(self, x: Tensor) -> AttentionOutput:
        """Logits plus, per layer, pre-softmax attention scores (B, H, T, T) and the [CLS] state (B, D)."""
        tokens = self.blocks["embed"](x)
        scores, cls = [], []
        for index in range(1, self.num_layers + 1):
            tokens, layer_scores = self.blocks[f"block{index}"].forward_with_attention(tokens)
            scores.append(layer_scores)
            cls.append(tokens[:, 0])
        return AttentionOutput(self.classifier(self.pool(tokens)), scores, cls)


@MODELS.register("vit")
def vit(
    num_classes: int,
    dim: int = 128,
    depth: int = 4,
    heads: int = 4,
    patch_size: int = 4,
    mlp_ratio: float = 2.0,
    image_size: int = 32,
    in_channels: int = 3,
) -> VisionTransformer:
    """ViT with ``depth`` layers of width ``dim`` on ``patch_size`` patches of ``image_size`` inputs."""
    blocks: dict[str, nn.Module] = {"embed": PatchEmbed(in_channels, dim, patch_size, image_size)}
    blocks.update({f"block{i}": TransformerBlock(dim, heads, mlp_ratio) for i in range(1, depth + 1)})
    return VisionTransformer(blocks, ClsPool(dim), dim, num_classes)
