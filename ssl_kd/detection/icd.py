"""ICD's building blocks: instance queries, their encoder, the decoder over a teacher's FPN and the auxiliary heads.

Kang, Zhang, Zhang, Sun, Jia, "Instance-Conditional Knowledge Distillation for Object Detection", NeurIPS 2021,
arXiv 2110.12724; docs/methods/icd.md [verified: code megvii-research/ICD, pytorch_release/models/utils.py
(``InstanceEncoder``, ``PositionEmbeddingSine``, ``OfficialDecoderLayer``), models/teacher.py, utils/build.py].

Each image's instance queries are its ground-truth boxes (*real*) plus sampled *fake* boxes, all described by
``one-hot(class) ⊕ sine-PE(reference point) ⊕ scale one-hots`` and encoded by an MLP. One cross-attention layer
attends from the queries over the frozen teacher's flattened FPN (keys with a learned projection of a sine position
encoding added, values without); its outputs feed the auxiliary heads (real or fake? where are the box's sides?), and
its attention logits and per-head values are what the student's FPN is taught to match (``losses/icd.py``).
Coordinates are relative to the image side (images are square and all the same size here).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SCALE_BINS = 5
"""Scale one-hots per side: ⌊log2(side / 0.04)⌋ clipped to 0..4, i.e. sides below 8 %, 8-16 %, 16-32 %, 32-64 % and
above 64 % of the image (the paper's code bins ⌊log2(pixels) − 5⌋ on ~800 px images: the same relative bins)."""
SCALE_BASE = 0.04
POINT_FEATURES = 128
"""Sine features per coordinate of a query's reference point (the paper's code: 128)."""
PE_TEMPERATURE = 10000.0


class InstanceQueries(NamedTuple):
    """A batch's instance queries, padded to K per image (real ones first, then fake ones, then padding).

    Attributes:
        classes: (B, K) int64 class index 0..C-1 (a real instance's label minus one).
        boxes: (B, K, 4) float xyxy relative to the image side, in [0, 1].
        reference: (B, K, 2) float reference point (x, y), relative.
        real: (B, K) bool, ground-truth instances.
        valid: (B, K) bool, real or fake (False: padding).
    """

    classes: Tensor
    boxes: Tensor
    reference: Tensor
    real: Tensor
    valid: Tensor

    def side_distances(self) -> Tensor:
        """(B, K, 4) distances from the reference point to the left, top, right and bottom sides (relative)."""
        return torch.cat((self.reference - self.boxes[..., :2], self.boxes[..., 2:] - self.reference), -1)


def query_counts(num_real: int, fake_ratio: float, max_queries: int) -> int:
    """Queries of an image with ``num_real`` instances: min(max(1, ⌊n·(ratio + 1)⌋), max(max_queries, n))."""
    return min(max(1, int(num_real * (fake_ratio + 1))), max(max_queries, num_real))


class QuerySampler(nn.Module):
    """Builds :class:`InstanceQueries` from ground truth, adding fake boxes drawn from the dataset's box statistics.

    A fake box's class is uniform over the classes; its width and height ~ N(class mean, class std), clipped to
    ±2 std and to [2e-3, 0.7]; its centre uniform in [0, 1] clipped to [0.03, 0.97]. Every query's reference point is
    its box centre + U(−jitter, jitter) · (w, h). Draws come from the global RNG on the buffers' device (the engine
    seeds it per step, so a resumed run draws the same queries).

    Args:
        size_mean: (C, 2) per-class mean (width, height) relative to the image side.
        size_std: (C, 2) per-class standard deviation of the same.
        fake_ratio: fake queries per real one (5 in the paper's code: 6 n queries in all), see :func:`query_counts`.
        max_queries: cap on an image's queries unless it has more real instances (300 in the paper's code).
        jitter: reference point jitter as a fraction of the box size (0.3).
    """

    def __init__(
        self, size_mean: Tensor, size_std: Tensor, fake_ratio: float = 5.0, max_queries: int = 300, jitter: float = 0.3
    ) -> None:
        super().__init__()
        if size_mean.shape != size_std.shape or size_mean.dim() != 2 or size_mean.shape[1] != 2:
            raise ValueError(f"size_mean and size_std must both be (C, 2), got {tuple(size_mean.shape)}")
        self.register_buffer("size_mean", size_mean.float().clone())
        self.register_buffer("size_std", size_std.float().clone())
        self.fake_ratio = fake_ratio
        self.max_queries = max_queries
        self.jitter = jitter

    @property
    def num_classes(self) -> int:
        return self.size_mean.shape[0]

    def forward(self, boxes: list[Tensor], labels: list[Tensor], image_size: int) -> InstanceQueries:
        """Args: per image (N_i, 4) xyxy boxes in pixels and (N_i,) labels in 1..C; the image side in pixels."""
        device = self.size_mean.device
        num_real = [len(b) for b in boxes]
        totals = [query_counts(n, self.fake_ratio, self.max_queries) for n in num_real]
        batch, width = len(boxes), max(totals)
        slot = torch.arange(width, device=device)
        real_counts = torch.tensor(num_real, device=device)
        real = slot < real_counts[:, None]
        valid = slot < torch.tensor(totals, device=device)[:, None]

        classes = torch.randint(self.num_classes, (batch, width), device=device)
        mean, std = self.size_mean[classes], self.size_std[classes]
        size = torch.maximum(torch.minimum(mean + std * torch.randn_like(mean), mean + 2 * std), mean - 2 * std)
        size = size.clamp(2e-3, 0.7)
        centre = torch.rand(batch, width, 2, device=device).clamp(0.03, 0.97)
        fake = torch.cat((centre - size / 2, centre + size / 2), -1)

        total_real = sum(num_real)
        image = torch.repeat_interleave(torch.arange(batch, device=device), real_counts, output_size=total_real)
        starts = torch.cumsum(real_counts, 0) - real_counts
        rank = torch.arange(total_real, device=device) - starts[image]
        true_boxes = torch.cat(boxes).to(device=device, dtype=torch.float32) / image_size
        boxes_all = fake.index_put((image, rank), true_boxes).clamp(0, 1)
        classes = classes.index_put((image, rank), torch.cat(labels).to(device) - 1)

        centre = (boxes_all[..., :2] + boxes_all[..., 2:]) / 2
        size = boxes_all[..., 2:] - boxes_all[..., :2]
        offset = (torch.rand(batch, width, 2, device=device) * 2 - 1) * self.jitter
        return InstanceQueries(classes, boxes_all, centre + offset * size, real, valid)


def point_encoding(points: Tensor, features: int = POINT_FEATURES, temperature: float = PE_TEMPERATURE) -> Tensor:
    """Sine encoding of relative points (..., 2): per coordinate p, [sin(2π p / τ_k) for even k, cos for odd k]
    with τ_k = temperature^(2⌊k/2⌋ / features), k < features; x's features then y's → (..., 2 · features)."""
    dim = torch.arange(features, dtype=torch.float32, device=points.device)
    scales = temperature ** (2 * (dim // 2) / features)
    angles = points.float()[..., None] * (2 * math.pi) / scales
    return torch.cat((angles[..., 0::2].sin(), angles[..., 1::2].cos()), -1).flatten(-2)


def scale_one_hots(boxes: Tensor) -> Tensor:
    """(..., 4) relative xyxy boxes -> (..., 2 · SCALE_BINS) one-hots of ⌊log2(side / SCALE_BASE)⌋ for width, height."""
    sides = boxes[..., 2:] - boxes[..., :2]
    bins = torch.floor(torch.log2(sides / SCALE_BASE)).clamp(0, SCALE_BINS - 1).long()
    return F.one_hot(bins, SCALE_BINS).flatten(-2).float()


def map_position_encoding(height: int, width: int, channels: int, device: torch.device) -> Tensor:
    """DETR's normalised sine encoding of a feature map's positions, (height · width, channels), row-major.

    Each position (y, x) has normalised coordinates 2π (y + 1) / height and 2π (x + 1) / width; each is encoded by
    channels / 2 features interleaving sin and cos over temperatures 10000^(2⌊k/2⌋ / (channels / 2)); y's, then x's.
    """
    if channels % 4:
        raise ValueError(f"the position encoding needs channels divisible by 4, got {channels}")
    half = channels // 2
    dim = torch.arange(half, dtype=torch.float32, device=device)
    scales = PE_TEMPERATURE ** (2 * (dim // 2) / half)
    eps = 1e-6
    y = torch.arange(1, height + 1, dtype=torch.float32, device=device) / (height + eps) * 2 * math.pi
    x = torch.arange(1, width + 1, dtype=torch.float32, device=device) / (width + eps) * 2 * math.pi

    def encode(values: Tensor) -> Tensor:
        angles = values[:, None] / scales
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), -1).flatten(1)

    pos_y = encode(y)[:, None, :].expand(height, width, half)
    pos_x = encode(x)[None, :, :].expand(height, width, half)
    return torch.cat((pos_y, pos_x), -1).reshape(height * width, channels)


def flatten_levels(levels: list[Tensor]) -> Tensor:
    """FPN levels (B, C, H_l, W_l) -> (B, Σ_l H_l W_l, C), level by level, each row-major."""
    return torch.cat([level.flatten(2).transpose(1, 2) for level in levels], 1)


def mlp(inputs: int, hidden: int, outputs: int, layers: int = 3) -> nn.Sequential:
    """``layers`` linear layers with ReLU between them (the paper's code's MLP)."""
    sizes = [inputs] + [hidden] * (layers - 1) + [outputs]
    modules: list[nn.Module] = []
    for index, (size_in, size_out) in enumerate(itertools.pairwise(sizes)):
        modules.append(nn.Linear(size_in, size_out))
        if index < layers - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


class InstanceEncoder(nn.Module):
    """descriptor = one-hot(class) ⊕ sine-PE(reference point) ⊕ scale one-hots -> 3-layer MLP -> R^hidden."""

    def __init__(self, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.mlp = mlp(num_classes + 2 * POINT_FEATURES + 2 * SCALE_BINS, hidden, hidden)

    def descriptor(self, queries: InstanceQueries) -> Tensor:
        """(B, K, C + 2 · POINT_FEATURES + 2 · SCALE_BINS) descriptors of the queries."""
        return torch.cat(
            (
                F.one_hot(queries.classes, self.num_classes).float(),
                point_encoding(queries.reference),
                scale_one_hots(queries.boxes),
            ),
            -1,
        )

    def forward(self, queries: InstanceQueries) -> Tensor:
        return self.mlp(self.descriptor(queries))


class Decoded(NamedTuple):
    """The decoder's outputs: ``instances`` (B, K, d), attention ``logits`` (B, h, K, S) before the softmax, and the
    per-head ``values`` (B, S, h, d / h) of the attended features."""

    instances: Tensor
    logits: Tensor
    values: Tensor


class InstanceDecoder(nn.Module):
    """One cross-attention layer from instance queries over flattened FPN features, then a feed-forward block.

    keys = W_k (F + W_p PE), values = W_v F, A = (W_q q) Kᵀ / √(d/h) per head; q' = LN(q + W_o softmax(A) V),
    out = LN(q' + FFN(q')) with FFN = Linear(d, 4d) -> ReLU -> Linear(4d, d); no dropout.

    Args:
        hidden: d, the query width (the paper: 256).
        feature_channels: channels of the attended FPN levels.
        heads: h (8).
    """

    def __init__(self, hidden: int, feature_channels: int, heads: int = 8) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden width {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(feature_channels, hidden)
        self.value = nn.Linear(feature_channels, hidden)
        self.position = nn.Linear(feature_channels, feature_channels)
        self.output = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden)
        self.feed_forward = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.ReLU(), nn.Linear(4 * hidden, hidden))
        self.output_norm = nn.LayerNorm(hidden)

    def split_heads(self, projected: Tensor) -> Tensor:
        """(B, S, d) -> (B, S, h, d / h)."""
        return projected.unflatten(-1, (self.heads, -1))

    def forward(self, instances: Tensor, features: Tensor, positions: Tensor) -> Decoded:
        """Args: instances (B, K, d); features (B, S, C); positions (S, C), their position encoding."""
        keys = self.split_heads(self.key(features + self.position(positions))).transpose(1, 2)  # (B, h, S, c)
        values = self.split_heads(self.value(features))  # (B, S, h, c)
        queries = self.split_heads(self.query(instances)).transpose(1, 2)  # (B, h, K, c)
        logits = queries @ keys.transpose(-1, -2) / math.sqrt(queries.shape[-1])
        attended = (logits.softmax(-1) @ values.transpose(1, 2)).transpose(1, 2).flatten(2)  # (B, K, d)
        hidden = self.attention_norm(instances + self.output(attended))
        return Decoded(self.output_norm(hidden + self.feed_forward(hidden)), logits, values)


class AuxiliaryHeads(nn.Module):
    """A 3-layer MLP on the decoded queries: an identification logit (real or fake) and the four side distances
    (sigmoid) from the reference point, the auxiliary task that teaches the decoder where instances are."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = mlp(hidden, hidden, 5)

    def forward(self, decoded: Tensor) -> tuple[Tensor, Tensor]:
        """(B, K, d) -> (confidence logits (B, K), distances (B, K, 4))."""
        out = self.mlp(decoded)
        return out[..., 0], out[..., 1:].sigmoid()


class PositionCache(nn.Module):
    """The teacher FPN's flattened position encoding, computed once per level layout (image sizes are fixed)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.layout: tuple[tuple[int, int], ...] = ()
        self.encoding: Tensor | None = None

    def forward(self, levels: list[Tensor]) -> Tensor:
        """(S, C) encodings of the levels' positions, level by level."""
        layout = tuple(tuple(level.shape[-2:]) for level in levels)
        device = levels[0].device
        if self.encoding is None or layout != self.layout or self.encoding.device != device:
            self.encoding = torch.cat([map_position_encoding(h, w, self.channels, device) for h, w in layout])
            self.layout = layout
        return self.encoding
