"""The ``export`` stage kind: ``ssl-kd export`` inside a pipeline.

Writes the feature extractor of the stage named by ``model: {from: STAGE}`` to ``<stage>/exported/`` in each of
``formats`` with a ``manifest.json``; every file is verified against the eager model (max abs difference at most
``tolerance``) right after it is written.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ssl_kd.config.schema import ModelSpec, StageConfig
from ssl_kd.export import DEFAULT_FORMATS, DEFAULT_TOLERANCE, export_stage
from ssl_kd.export.exporter import resolve_formats
from ssl_kd.export.kg import KG_FORMATS
from ssl_kd.models.base import FEATURES
from ssl_kd.stages.base import Stage, register_stage

EXPORT_DIR = "exported"


class ExportStageConfig(StageConfig):
    """``kind: export``: export an earlier stage's model as ONNX, TorchScript and/or safetensors.

    A link-prediction stage's KGE model takes ``formats: [safetensors, tsv]`` (see :mod:`ssl_kd.export.kg`).
    """

    kind: Literal["export"] = "export"
    model: ModelSpec = Field(description="the model to export: {from: STAGE}")
    formats: list[str] = Field(default_factory=lambda: list(DEFAULT_FORMATS), description="export formats")
    tolerance: float = Field(DEFAULT_TOLERANCE, gt=0, description="largest accepted max abs diff vs eager")
    layer: str = Field(FEATURES, description="tap to export: features (penultimate) or a block, e.g. conv5")
    pool_size: int = Field(1, ge=1, description="4-D maps are average-pooled to pool_size x pool_size")

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, formats: list[str]) -> list[str]:
        if not formats:
            raise ValueError(f"give at least one format; available: {', '.join(DEFAULT_FORMATS)}")
        resolve_formats([name for name in formats if name not in KG_FORMATS])  # KG stages also take tsv
        return formats

    @model_validator(mode="after")
    def _from_a_stage(self) -> ExportStageConfig:
        if self.model.from_ is None:
            raise ValueError("an export stage exports a trained model: use model: {from: STAGE}")
        return self


@register_stage("export")
class ExportStage(Stage):
    """Export an earlier stage's feature extractor; each file verified against the eager model."""

    config_class = ExportStageConfig
    provides = ("export",)
    distributed = False  # one process writes and verifies the files

    def run(self) -> dict[str, Any]:
        cfg: ExportStageConfig = self.cfg
        manifest = export_stage(
            self.ctx.run_dir / cfg.model.from_,
            self.ctx.stage_dir / EXPORT_DIR,
            cfg.formats,
            layer=cfg.layer,
            pool_size=cfg.pool_size,
            tolerance=cfg.tolerance,
        )
        return {f"{name}_max_abs_diff": entry["max_abs_diff"] for name, entry in manifest["files"].items()}
