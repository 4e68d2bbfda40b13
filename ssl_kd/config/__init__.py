"""Pipeline configuration: typed schemas, YAML loading, overrides and error messages."""

from ssl_kd.config.loader import Pipeline, load_pipeline
from ssl_kd.config.schema import (
    DataConfig,
    EngineConfig,
    ModelSpec,
    OptimConfig,
    StageConfig,
    TrainStageConfig,
)

__all__ = [
    "DataConfig",
    "EngineConfig",
    "ModelSpec",
    "OptimConfig",
    "Pipeline",
    "StageConfig",
    "TrainStageConfig",
    "load_pipeline",
]
