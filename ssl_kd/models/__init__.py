"""Backbones: importing this package registers every architecture in ``MODELS``."""

from ssl_kd.models import alexnet, alexnet_ssl, mobilenet, r2plus1d, resnet, timm_backbone, vit, x3d
from ssl_kd.models.base import BackboneModel, build_model

__all__ = [
    "BackboneModel",
    "alexnet",
    "alexnet_ssl",
    "build_model",
    "mobilenet",
    "r2plus1d",
    "resnet",
    "timm_backbone",
    "vit",
    "x3d",
]
