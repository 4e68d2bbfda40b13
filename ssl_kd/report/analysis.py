"""What the report computes from cached features: probe predictions, a confusion matrix and a 2-D embedding.

The probe is the full-label linear probe of docs/methods/probes.md (weight decay chosen on a split of train, never on
test), refitted here to get per-sample test predictions. The embedding is t-SNE (scikit-learn) of the test features
after a PCA to at most 50 dimensions, 500 iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from ssl_kd.evaluation.linear_probe import DEFAULT_GRID, fit_linear_probe, select_weight_decay

PCA_DIMS = 50
TSNE_ITERATIONS = 500  # half sklearn's default: enough for a few thousand points, twice as fast


@dataclass
class FeatureSet:
    """Frozen train/test features of one model.

    Attributes:
        title: Where they come from (e.g. ``probe: features of distill``).
        train_x: Training features ``(N, D)``.
        train_y: Training labels ``(N,)``.
        test_x: Test features ``(M, D)``.
        test_y: Test labels ``(M,)``.
        class_names: One name per class.
    """

    title: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str]


def probe_predictions(features: FeatureSet, seed: int = 0) -> tuple[np.ndarray, float]:
    """Test-set predictions of the full-label linear probe and the weight decay chosen on train.

    Returns:
        ``(predicted labels (M,), weight decay)``.
    """
    num_classes = len(features.class_names)
    wd = select_weight_decay(features.train_x, features.train_y, num_classes, DEFAULT_GRID, seed=seed)
    probe = fit_linear_probe(features.train_x, features.train_y, num_classes, wd)
    return probe.predict(features.test_x).argmax(dim=1).numpy(), wd


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``(num_classes, num_classes)``: row = true class, column = predicted class."""
    flat = np.asarray(true, dtype=np.int64) * num_classes + np.asarray(predicted, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def embed_2d(x: torch.Tensor, seed: int = 0) -> np.ndarray:
    """t-SNE of ``x`` ``(M, D)`` to ``(M, 2)`` (after PCA to at most 50 dimensions)."""
    data = x.double().numpy()
    dims = min(PCA_DIMS, *data.shape)
    if data.shape[1] > dims:
        data = PCA(n_components=dims, random_state=seed).fit_transform(data)
    perplexity = float(min(30.0, max(2.0, (len(data) - 1) / 3)))
    tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, max_iter=TSNE_ITERATIONS, random_state=seed)
    return tsne.fit_transform(data)
