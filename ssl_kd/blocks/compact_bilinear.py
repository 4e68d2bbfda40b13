"""Pairing two teachers' features into one representation: Tensor-Sketch compact bilinear pooling, or concat.

Gao, Beijbom, Zhang, Darrell, "Compact Bilinear Pooling", CVPR 2016, arXiv 1511.06062 (Tensor Sketch): the outer
product x y^T is approximated in d dimensions by IFFT(FFT(C_x(x)) * FFT(C_y(y))), where C is a count sketch with
random hashes h: [n] -> [d] and signs s in {-1, +1}; then signed square root and L2 normalisation. Graph
distillation (docs/methods/video_graph.md) uses it to build the representation graph's pair nodes g_kl
[third-party (review); d = 2048 is a reconstruction].
Hashes and signs are seeded buffers saved with the method's checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CountSketch(nn.Module):
    """Projects ``(B, n)`` vectors to ``(B, d)``: ``out[:, h[i]] += s[i] * x[:, i]``."""

    def __init__(self, in_dim: int, out_dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.register_buffer("hashes", torch.randint(out_dim, (in_dim,), generator=generator))
        self.register_buffer("signs", torch.randint(2, (in_dim,), generator=generator).float() * 2 - 1)

    def forward(self, x: Tensor) -> Tensor:
        out = x.new_zeros(x.shape[0], self.out_dim)
        return out.index_add_(1, self.hashes, x * self.signs)


class CompactBilinearPooling(nn.Module):
    """g(x, y) = l2norm(signed_sqrt(IFFT(FFT(C_x(x)) * FFT(C_y(y))))), a ``(B, d)`` pair representation."""

    def __init__(self, dim_x: int, dim_y: int, out_dim: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.sketch_x = CountSketch(dim_x, out_dim, generator)
        self.sketch_y = CountSketch(dim_y, out_dim, generator)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        d = self.sketch_x.out_dim
        product = torch.fft.rfft(self.sketch_x(x.float()), n=d) * torch.fft.rfft(self.sketch_y(y.float()), n=d)
        pooled = torch.fft.irfft(product, n=d)
        return F.normalize(pooled.sign() * pooled.abs().sqrt(), dim=1)


class ConcatPairing(nn.Module):
    """g(x, y) = [l2norm(x), l2norm(y)]: the ``pairing: concat`` ablation (``(B, dim_x + dim_y)``)."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.cat([F.normalize(x.float(), dim=1), F.normalize(y.float(), dim=1)], dim=1) / 2**0.5
