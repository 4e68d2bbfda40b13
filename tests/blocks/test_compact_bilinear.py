"""Tensor-Sketch compact bilinear pooling: exact on one-hot inputs, unbiased on random ones, seeded buffers."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.blocks.compact_bilinear import CompactBilinearPooling, CountSketch


def test_count_sketch_of_one_hot_vectors_is_a_shifted_sign() -> None:
    pooling = CompactBilinearPooling(3, 5, 16, seed=0)
    sx, sy = pooling.sketch_x, pooling.sketch_y
    x, y = torch.zeros(1, 3), torch.zeros(1, 5)
    x[0, 1], y[0, 4] = 1.0, 1.0
    # TS(e_i, e_j) = s_x[i] s_y[j] e_{(h_x[i] + h_y[j]) mod d}: after signed sqrt and L2 norm, the same one-hot.
    expected = torch.zeros(1, 16)
    expected[0, (sx.hashes[1] + sy.hashes[4]) % 16] = sx.signs[1] * sy.signs[4]
    assert torch.allclose(pooling(x, y), expected, atol=1e-3)  # FFT round-off, magnified by the square root


def test_sketch_approximates_the_bilinear_inner_product() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(2, 32), torch.randn(2, 32)
    estimates = []
    for seed in range(20):
        pooling = CompactBilinearPooling(32, 32, 1024, seed=seed)
        d = 1024
        raw = torch.fft.irfft(torch.fft.rfft(pooling.sketch_x(x), n=d) * torch.fft.rfft(pooling.sketch_y(y), n=d), n=d)
        estimates.append((raw[0] * raw[1]).sum())
    exact = (x[0] @ x[1]) * (y[0] @ y[1])
    assert torch.stack(estimates).mean().item() == pytest.approx(exact.item(), abs=0.25 * abs(exact.item()) + 5)


def test_sketches_are_seeded_buffers() -> None:
    a, b = CountSketch(10, 8, torch.Generator().manual_seed(3)), CountSketch(10, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a.hashes, b.hashes) and set(a.signs.tolist()) <= {-1.0, 1.0}
    assert {name for name, _ in a.named_buffers()} == {"hashes", "signs"}
