"""ONNX export with a dynamic batch dimension, checked with onnxruntime.

The dynamo exporter (``torch.onnx.export(..., dynamo=True, dynamic_shapes=...)``, needs ``onnxscript``) is tried
first; if it fails, the TorchScript-based exporter with ``dynamic_axes`` is used and the manifest says so. Weights
are stored inside the ``.onnx`` file (no external-data side file), so the file is self-contained.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ssl_kd.export.base import (
    INPUT_NAME,
    OUTPUT_NAME,
    ExportError,
    ExportFormat,
    FeatureExtractor,
    Runner,
    register_format,
)

OPSET = 18
LOG = logging.getLogger("ssl_kd")


def _export_dynamo(extractor: FeatureExtractor, example: Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch")
    torch.onnx.export(
        extractor,
        (example,),
        path,
        dynamo=True,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes={"x": {0: batch}},
        opset_version=OPSET,
        external_data=False,
        verbose=False,
    )


def _export_legacy(extractor: FeatureExtractor, example: Tensor, path: Path) -> None:
    torch.onnx.export(
        extractor,
        (example,),
        path,
        dynamo=False,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=OPSET,
    )


def write_onnx(extractor: FeatureExtractor, example: Tensor, path: Path) -> dict[str, Any]:
    """Export ``extractor`` to ``path`` with a dynamic batch dimension.

    Args:
        extractor: The module to export (eval mode).
        example: An example input batch.
        path: The ``.onnx`` file.

    Returns:
        ``{"exporter": "dynamo" | "torchscript", "opset": OPSET}`` for the manifest.
    """
    try:
        _export_dynamo(extractor, example, path)
        exporter = "dynamo"
    except Exception as error:  # any exporter failure: fall back to the older exporter below
        LOG.warning("dynamo ONNX exporter failed (%s); using the TorchScript-based exporter", error)
        _export_legacy(extractor, example, path)
        exporter = "torchscript"
    return {"exporter": exporter, "opset": OPSET, "onnx": importlib.metadata.version("onnx")}


def load_onnx(path: Path, extractor: FeatureExtractor) -> Runner:
    """An onnxruntime CPU session over ``path`` as a ``batch -> features`` function."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ExportError("checking an ONNX export needs onnxruntime (pip install onnxruntime)") from error
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: batch})[0]

    return run


register_format(ExportFormat("onnx", "feature_extractor.onnx", write_onnx, load_onnx))
