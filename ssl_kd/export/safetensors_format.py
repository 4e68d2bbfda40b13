"""The model's state_dict as safetensors: weights only, rebuilt with ``ssl_kd`` from the manifest's ``spec``.

``build_model(**manifest["spec"]).load_state_dict(safetensors.torch.load_file(path))`` restores the model; the
file's header metadata repeats the spec and the exported layer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ssl_kd.export.base import ExportFormat, FeatureExtractor, Runner, register_format
from ssl_kd.models import build_model


def write_safetensors(extractor: FeatureExtractor, example: Tensor, path: Path) -> dict[str, Any]:
    """Save the backbone's state_dict (contiguous CPU tensors) with the spec and layer as header metadata.

    Returns:
        ``{"tensors": count}`` for the manifest.
    """
    state = {key: value.detach().cpu().contiguous() for key, value in extractor.backbone.state_dict().items()}
    metadata = {
        "format": "pt",
        "spec": json.dumps(extractor.backbone.spec()),
        "layer": extractor.layer,
        "pool_size": str(extractor.pool_size),
    }
    save_file(state, str(path), metadata=metadata)
    return {"tensors": len(state)}


def load_safetensors(path: Path, extractor: FeatureExtractor) -> Runner:
    """Rebuild ``extractor``'s architecture from its spec, load the file's weights, run as ``batch -> features``."""
    backbone = build_model(**extractor.backbone.spec())
    backbone.load_state_dict(load_file(str(path)))
    rebuilt = FeatureExtractor(backbone, extractor.layer, extractor.pool_size)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return rebuilt(torch.from_numpy(batch)).numpy()

    return run


register_format(ExportFormat("safetensors", "model.safetensors", write_safetensors, load_safetensors))
