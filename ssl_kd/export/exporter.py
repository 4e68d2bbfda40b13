"""Export a stage's feature extractor in several formats, verifying each file right after writing it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ssl_kd.engine.checkpoint import atomic_write_json
from ssl_kd.export.base import EXPORT_FORMATS, ExportFormat, FeatureExtractor
from ssl_kd.export.detection import export_detection_stage, is_detector
from ssl_kd.export.kg import export_kg_stage, is_kge
from ssl_kd.export.manifest import MANIFEST_FILE, build_manifest
from ssl_kd.export.source import load_stage
from ssl_kd.export.verify import VERIFY_BATCH, verification_batch, verify_export
from ssl_kd.models.base import FEATURES

DEFAULT_FORMATS = ("onnx", "torchscript", "safetensors")
DEFAULT_TOLERANCE = 1e-4
EXAMPLE_BATCH = 2
LOG = logging.getLogger("ssl_kd")


def resolve_formats(names: Sequence[str]) -> list[ExportFormat]:
    """The registered formats named in ``names`` (duplicates dropped, order kept).

    Raises:
        ConfigError: An unknown name; the message lists the available formats.
    """
    return [EXPORT_FORMATS.get(name) for name in dict.fromkeys(names)]


def export_stage(
    stage_dir: Path,
    out_dir: Path,
    formats: Sequence[str] | None = DEFAULT_FORMATS,
    layer: str = FEATURES,
    pool_size: int = 1,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Export ``stage_dir/model.pt``'s feature extractor to ``out_dir`` and write ``out_dir/manifest.json``.

    Every file is loaded back right after writing and compared with the eager model on a batch; the max abs
    difference is logged and recorded in the manifest. A link-prediction stage (a KGE model) is exported by
    :func:`ssl_kd.export.kg.export_kg_stage` instead: its embedding tables as ``safetensors`` and/or ``tsv`` with the
    id maps (``layer`` and ``pool_size`` do not apply); a detection stage by
    :func:`ssl_kd.export.detection.export_detection_stage`: the whole detector, image in, boxes / scores / labels
    out, as ``onnx`` and/or ``torchscript``.

    Args:
        stage_dir: A finished stage folder holding ``model.pt``.
        out_dir: Output folder (created).
        formats: Names of registered formats (``onnx``, ``torchscript``, ``safetensors``); for a KG stage
            ``safetensors`` and ``tsv``. ``None``: every format that applies to the stage's model.
        layer: Tap to export: ``features`` (penultimate) or a block name such as ``conv5``.
        pool_size: Side of the average pool applied to 4-D maps before flattening.
        tolerance: Largest accepted max abs difference.

    Returns:
        The manifest.

    Raises:
        ExportError: No model in ``stage_dir`` or a bad layer; ``ExportVerificationError`` above tolerance.
        ConfigError: An unknown format.
    """
    source = load_stage(stage_dir)
    if is_kge(source.model):
        return export_kg_stage(source, Path(out_dir), formats, tolerance)
    if is_detector(source.model):
        return export_detection_stage(source, Path(out_dir), formats, tolerance)
    chosen = resolve_formats(DEFAULT_FORMATS if formats is None else formats)
    extractor = FeatureExtractor(source.model, layer, pool_size)
    batch = verification_batch(source.input_shape)
    with torch.no_grad():
        feature_dim = extractor(batch).shape[1]
    manifest = build_manifest(source, extractor, feature_dim, tolerance, VERIFY_BATCH)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    example = batch[:EXAMPLE_BATCH]
    for export_format in chosen:
        path = out_dir / export_format.filename
        info = export_format.write(extractor, example, path)
        diff = verify_export(export_format, path, extractor, batch, tolerance)
        LOG.info("exported %s: %s (max abs diff %.3g, tolerance %.3g)", export_format.name, path, diff, tolerance)
        manifest["files"][export_format.name] = {"file": export_format.filename, "max_abs_diff": diff, **info}
    atomic_write_json(out_dir / MANIFEST_FILE, manifest)
    return manifest
