"""Stage kinds (``ssl-kd list stages``): each registers its config schema and runner."""

from ssl_kd.stages import export, probe, train  # noqa: F401  (registration)
from ssl_kd.stages.base import Stage, StageContext, load_stage_model, register_stage

__all__ = ["Stage", "StageContext", "load_stage_model", "register_stage"]
