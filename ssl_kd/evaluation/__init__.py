"""Evaluation of frozen features: weighted kNN, linear and low-shot probes, extraction (docs/methods/probes.md).

The full-label probe function lives at ``ssl_kd.evaluation.linear_probe.linear_probe``; it is not re-exported
here, so that ``ssl_kd.evaluation.linear_probe`` stays the module.
"""

from ssl_kd.evaluation.feature_splits import FeatureSplits, load_feature_splits
from ssl_kd.evaluation.features import extract_features, load_features, save_features
from ssl_kd.evaluation.knn import knn_neighbors, knn_predict, knn_top1
from ssl_kd.evaluation.linear_probe import (
    DEFAULT_GRID,
    LinearProbe,
    ProbeResult,
    fit_linear_probe,
    select_weight_decay,
)
from ssl_kd.evaluation.low_shot import low_shot_probe, sample_k_per_class
from ssl_kd.evaluation.protocol import ProbeProtocol, evaluate_features

__all__ = [
    "DEFAULT_GRID",
    "FeatureSplits",
    "LinearProbe",
    "ProbeProtocol",
    "ProbeResult",
    "evaluate_features",
    "extract_features",
    "fit_linear_probe",
    "knn_neighbors",
    "knn_predict",
    "knn_top1",
    "load_feature_splits",
    "load_features",
    "low_shot_probe",
    "sample_k_per_class",
    "save_features",
    "select_weight_decay",
]
