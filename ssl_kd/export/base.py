"""What every export format provides, the format registry, and the module that is exported.

An export format writes a :class:`FeatureExtractor` to a file and can load that file back as a function from a
float32 ``numpy`` batch to features, so that every export is checked against the eager model right after writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor, nn

from ssl_kd.errors import SslKdError, did_you_mean
from ssl_kd.evaluation.features import flatten_tap
from ssl_kd.models import BackboneModel
from ssl_kd.models.base import FEATURES
from ssl_kd.registry import Registry

INPUT_NAME = "input"
OUTPUT_NAME = "features"

Runner = Callable[[np.ndarray], np.ndarray]


class ExportError(SslKdError):
    """An export could not be written or loaded back."""


class ExportVerificationError(ExportError):
    """An exported file's outputs differ from the eager model's by more than the tolerance."""


class FeatureExtractor(nn.Module):
    """``image batch -> (B, D) features`` of one tap of a backbone, conv maps average-pooled and flattened.

    Args:
        backbone: The trained model.
        layer: A tap name (``backbone.tap_names``): ``"features"`` (penultimate) or a block such as ``conv5``.
        pool_size: Side of the adaptive average pool applied to 4-D maps (as in :mod:`ssl_kd.evaluation`).
    """

    def __init__(self, backbone: BackboneModel, layer: str = FEATURES, pool_size: int = 1) -> None:
        super().__init__()
        if layer not in backbone.tap_names:
            raise ExportError(
                f"unknown layer {layer!r}{did_you_mean(layer, backbone.tap_names)}; "
                f"available: {', '.join(backbone.tap_names)}"
            )
        if pool_size < 1:
            raise ExportError(f"pool_size must be at least 1, got {pool_size}")
        self.backbone = backbone
        self.layer = layer
        self.pool_size = pool_size
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        """Features ``(B, D)`` of the image batch ``x``."""
        return flatten_tap(self.backbone.forward_taps(x, [self.layer])[self.layer], self.pool_size)


@dataclass(frozen=True)
class ExportFormat:
    """One export format.

    Attributes:
        name: Registry key (``--format`` value).
        filename: File name inside the export folder.
        write: ``write(extractor, example, path) -> info`` writes the file; ``info`` goes into the manifest.
        load: ``load(path, extractor) -> runner`` loads the file back; ``extractor`` is only used by formats that
            store weights without code (safetensors), to rebuild the architecture.
    """

    name: str
    filename: str
    write: Callable[[FeatureExtractor, Tensor, Path], dict[str, Any]]
    load: Callable[[Path, FeatureExtractor], Runner]


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format")


def register_format(export_format: ExportFormat) -> ExportFormat:
    """Add ``export_format`` to :data:`EXPORT_FORMATS` under its name."""
    return EXPORT_FORMATS.register(export_format.name)(export_format)
