"""TorchScript export (``torch.jit.trace``), loadable with ``torch.jit.load`` from Python or C++ (libtorch).

TorchScript is deprecated upstream but remains the most portable format for C++ users, so it ships beside ONNX;
torch's deprecation warnings for ``torch.jit`` are silenced here, where using it is deliberate.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ssl_kd.export.base import ExportFormat, FeatureExtractor, Runner, register_format


@contextmanager
def _jit_deprecation_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*deprecated")
        yield


def write_torchscript(extractor: FeatureExtractor, example: Tensor, path: Path) -> dict[str, Any]:
    """Trace ``extractor`` on ``example`` and save the traced module to ``path``.

    Returns:
        ``{"method": "trace"}`` for the manifest.
    """
    with torch.no_grad(), _jit_deprecation_silenced():
        traced = torch.jit.trace(extractor, example, check_trace=False)
        torch.jit.save(traced, str(path))
    return {"method": "trace", "torch": torch.__version__}


def load_torchscript(path: Path, extractor: FeatureExtractor) -> Runner:
    """``torch.jit.load(path)`` as a ``batch -> features`` function (CPU, no gradients)."""
    with _jit_deprecation_silenced():
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(batch)).numpy()

    return run


register_format(ExportFormat("torchscript", "feature_extractor.torchscript.pt", write_torchscript, load_torchscript))
