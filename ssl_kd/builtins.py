"""The built-in components: importing a package registers its models, datasets, methods, stages and domain."""

from __future__ import annotations

import importlib

BUILTIN_PACKAGES = (
    "ssl_kd.models",
    "ssl_kd.data",
    "ssl_kd.methods",
    "ssl_kd.stages.train",
    "ssl_kd.stages.probe",
    "ssl_kd.stages.export",
    "ssl_kd.kg",
    "ssl_kd.graph",
    "ssl_kd.recsys",
    "ssl_kd.detection",
)


def load() -> None:
    """Import every built-in package (once; later calls cost nothing)."""
    for package in BUILTIN_PACKAGES:
        importlib.import_module(package)
