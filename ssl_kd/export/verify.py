"""Load an export back and compare it with the eager model on a batch; fail above the tolerance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ssl_kd.export.base import ExportFormat, ExportVerificationError, FeatureExtractor

VERIFY_BATCH = 5
VERIFY_SEED = 0


def verification_batch(input_shape: tuple[int, ...], batch_size: int = VERIFY_BATCH) -> Tensor:
    """A seeded standard-normal batch ``(batch_size, *input_shape)`` (the scale of normalised images)."""
    generator = torch.Generator().manual_seed(VERIFY_SEED)
    return torch.randn(batch_size, *input_shape, generator=generator)


def max_abs_diff(export_format: ExportFormat, path: Path, extractor: FeatureExtractor, batch: Tensor) -> float:
    """Max abs difference between the exported file's outputs and the eager extractor's on ``batch``.

    Args:
        export_format: The format ``path`` was written in.
        path: The exported file.
        extractor: The eager module that was exported.
        batch: Input batch.

    Returns:
        ``max |export(batch) - extractor(batch)|``; ``inf`` if the shapes differ.
    """
    with torch.no_grad():
        expected = extractor(batch).numpy()
    actual = np.asarray(export_format.load(path, extractor)(batch.numpy()))
    if actual.shape != expected.shape:
        return float("inf")
    return float(np.abs(actual.astype(np.float64) - expected).max())


def verify_export(
    export_format: ExportFormat, path: Path, extractor: FeatureExtractor, batch: Tensor, tolerance: float
) -> float:
    """Check an export against the eager model.

    Args:
        export_format: The format ``path`` was written in.
        path: The exported file.
        extractor: The eager module that was exported.
        batch: Input batch.
        tolerance: Largest accepted max abs difference.

    Returns:
        The max abs difference.

    Raises:
        ExportVerificationError: The difference exceeds ``tolerance`` (or the output shape is wrong).
    """
    diff = max_abs_diff(export_format, path, extractor, batch)
    if not diff <= tolerance:
        raise ExportVerificationError(
            f"{export_format.name} export {path} differs from the eager model: max abs diff {diff:.3g} > "
            f"tolerance {tolerance:.3g}"
        )
    return diff
