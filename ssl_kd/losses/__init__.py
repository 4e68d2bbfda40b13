"""Losses: plain ``nn.Module``s over tensors (never models), one per file."""

from ssl_kd.losses.info_nce import InfoNCE
from ssl_kd.losses.nt_xent import NTXent
from ssl_kd.losses.relation import MultiPositiveContrast, RelationKL
from ssl_kd.losses.similarity_distillation import SimilarityDistillation
from ssl_kd.losses.soft_target import SoftTargetKL

__all__ = ["InfoNCE", "MultiPositiveContrast", "NTXent", "RelationKL", "SimilarityDistillation", "SoftTargetKL"]
