"""Export of a trained stage's feature extractor: ONNX, TorchScript and safetensors, each verified on write.

``export_stage(stage_dir, out_dir, formats)`` writes one file per format plus ``manifest.json``; each format is
one module (``onnx_format``, ``torchscript_format``, ``safetensors_format``) registered in ``EXPORT_FORMATS``.
A link-prediction stage's KGE model is exported by ``kg`` instead: its embedding tables as ``safetensors`` and/or
``tsv`` with the id maps (``KG_FORMATS``).
"""

from ssl_kd.export import onnx_format, safetensors_format, torchscript_format  # noqa: F401  (registration)
from ssl_kd.export.base import (
    EXPORT_FORMATS,
    ExportError,
    ExportFormat,
    ExportVerificationError,
    FeatureExtractor,
    register_format,
)
from ssl_kd.export.exporter import DEFAULT_FORMATS, DEFAULT_TOLERANCE, export_stage
from ssl_kd.export.kg import KG_FORMATS, export_kg_stage, load_kge_safetensors
from ssl_kd.export.manifest import MANIFEST_FILE, read_manifest
from ssl_kd.export.source import StageModel, load_stage
from ssl_kd.export.verify import max_abs_diff, verify_export

__all__ = [
    "DEFAULT_FORMATS",
    "DEFAULT_TOLERANCE",
    "EXPORT_FORMATS",
    "KG_FORMATS",
    "MANIFEST_FILE",
    "ExportError",
    "ExportFormat",
    "ExportVerificationError",
    "FeatureExtractor",
    "StageModel",
    "export_kg_stage",
    "export_stage",
    "load_kge_safetensors",
    "load_stage",
    "max_abs_diff",
    "read_manifest",
    "register_format",
    "verify_export",
]
