"""Losses: plain ``nn.Module``s over tensors (never models), one per file."""

from ssl_kd.losses.attention_kl import AttentionKL
from ssl_kd.losses.cls_cosine import CLSCosineLoss
from ssl_kd.losses.hint_regression import HintLoss
from ssl_kd.losses.info_nce import InfoNCE
from ssl_kd.losses.labelled_ce import LabelledCrossEntropy
from ssl_kd.losses.logits_graph import LogitsGraphLoss
from ssl_kd.losses.mutual import MutualLearningLoss
from ssl_kd.losses.nt_xent import NTXent
from ssl_kd.losses.rectified_kd import RectifiedKDLoss
from ssl_kd.losses.relation import MultiPositiveContrast, RelationKL
from ssl_kd.losses.representation_graph import RepresentationGraphLoss
from ssl_kd.losses.self_adversarial import SelfAdversarialLoss
from ssl_kd.losses.semi_online import SemiOnlineKDLoss
from ssl_kd.losses.similarity_distillation import SimilarityDistillation
from ssl_kd.losses.soft_target import SoftTargetKL

__all__ = [
    "AttentionKL",
    "CLSCosineLoss",
    "HintLoss",
    "InfoNCE",
    "LabelledCrossEntropy",
    "LogitsGraphLoss",
    "MultiPositiveContrast",
    "MutualLearningLoss",
    "NTXent",
    "RectifiedKDLoss",
    "RelationKL",
    "RepresentationGraphLoss",
    "SelfAdversarialLoss",
    "SemiOnlineKDLoss",
    "SimilarityDistillation",
    "SoftTargetKL",
]
