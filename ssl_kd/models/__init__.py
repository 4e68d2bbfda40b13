"""Backbones: importing this package registers every architecture in ``MODELS``."""

from ssl_kd.models import alexnet, mobilenet, r2plus1d, resnet, timm_backbone, vit, x3d
from ssl_kd.models.base import BackboneModel, build_model

__all__ = ["BackboneModel", "alexnet", "build_model", "mobilenet", "r2plus1d", "resnet", "timm_backbone", "vit", "x3d"]
