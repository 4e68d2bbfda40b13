"""Stage kinds (``ssl-kd list stages``): each registers its config schema and runner.

The kinds themselves (``train``, ``probe``, ``export``) are registered by ``ssl_kd.builtins.load()``, not on import
of this package: ``export`` needs ``ssl_kd.export``, whose KG exporter imports the KG domain, whose ensemble stage
imports this package; importing the kinds here would make that a cycle.
"""

from ssl_kd.stages.base import Stage, StageContext, load_stage_model, register_stage

__all__ = ["Stage", "StageContext", "load_stage_model", "register_stage"]
