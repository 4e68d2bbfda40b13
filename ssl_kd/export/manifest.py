"""The JSON manifest written beside exported files: what the files are and how to feed them.

Keys: ``arch``, ``spec`` (rebuild with ``ssl_kd.models.build_model(**spec)``), ``layer``, ``pool_size``,
``feature_dim``, ``input`` (name, shape with a symbolic batch, dtype, layout, preprocessing), ``normalization``
(per-channel ``mean``/``std``), ``output``, ``dataset``, ``class_names``, ``source`` (run folder, run name, stage,
model file and its sha256), ``tolerance``, ``verification`` (batch) and ``files``: per format its file name, the
measured ``max_abs_diff`` against the eager model and exporter details.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import ssl_kd
from ssl_kd.export.base import INPUT_NAME, OUTPUT_NAME, FeatureExtractor
from ssl_kd.export.source import StageModel
from ssl_kd.models.saved import MODEL_FILE

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
PREPROCESSING = "RGB, pixel values scaled to [0, 1], resized to the input size, then (x - mean) / std per channel"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(source: StageModel) -> dict[str, Any]:
    """Where an export came from and when: the ``source`` stage and model file, package versions, creation time.

    Every export manifest (features, KG embeddings, detectors) carries these keys.
    """
    run_dir = source.stage_dir.resolve().parent
    return {
        "source": {
            "run": str(run_dir),
            "run_name": run_dir.name,
            "stage": source.stage_dir.name,
            "model_file": str(source.stage_dir.resolve() / MODEL_FILE),
            "model_sha256": _sha256(source.stage_dir / MODEL_FILE),
        },
        "versions": {"ssl_kd": ssl_kd.__version__, "torch": torch.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def build_manifest(
    source: StageModel, extractor: FeatureExtractor, feature_dim: int, tolerance: float, verify_batch: int
) -> dict[str, Any]:
    """The manifest of an export, without ``files`` (added per format as each one is verified).

    Args:
        source: The exported stage's model and metadata.
        extractor: The exported module.
        feature_dim: Width of the exported features.
        tolerance: Largest accepted max abs difference.
        verify_batch: Size of the verification batch.
    """
    meta = source.meta
    return {
        "manifest_version": MANIFEST_VERSION,
        "arch": source.model.arch,
        "spec": source.model.spec(),
        "layer": extractor.layer,
        "pool_size": extractor.pool_size,
        "feature_dim": feature_dim,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", *source.input_shape],
            "dtype": "float32",
            "layout": "NCHW" if len(source.input_shape) == 3 else "NCTHW",
            "preprocessing": PREPROCESSING,
        },
        "normalization": {"mean": meta.get("mean"), "std": meta.get("std")},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", feature_dim], "dtype": "float32"},
        "dataset": meta.get("dataset"),
        "class_names": meta.get("class_names"),
        "tolerance": tolerance,
        "verification": {"batch_size": verify_batch, "inputs": "seeded standard normal", "metric": "max abs diff"},
        **provenance(source),
        "files": {},
    }


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read ``folder/manifest.json``."""
    return json.loads((Path(folder) / MANIFEST_FILE).read_text())
