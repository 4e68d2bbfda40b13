"""Backbones: importing this package registers every architecture in ``MODELS``."""

from ssl_kd.models import alexnet, mobilenet, resnet, vit
from ssl_kd.models.base import BackboneModel, build_model

__all__ = ["BackboneModel", "alexnet", "build_model", "mobilenet", "resnet", "vit"]
