"""Frozen-feature extraction and the ``.npz`` feature cache the probes read (docs/methods/probes.md).

Features are computed once, unaugmented, from named taps of an exported backbone; conv maps are average-pooled
to ``pool_size x pool_size`` and flattened (VISSL-style per-layer probes on pooled maps).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ssl_kd.errors import ConfigError, DataError


def flatten_tap(output: Tensor, pool_size: int) -> Tensor:
    """Average-pool a 4-D map to ``pool_size x pool_size`` and flatten; flatten other outputs to 2-D."""
    if output.ndim == 4:
        output = F.adaptive_avg_pool2d(output, pool_size)
    return output.flatten(1)


def _check_taps(outputs: dict[str, Tensor], taps: Sequence[str]) -> None:
    missing = [name for name in taps if name not in outputs]
    if missing:
        raise ConfigError(f"model has no feature tap(s) {missing}; it returned: {', '.join(sorted(outputs))}")


@torch.no_grad()
def extract_features(
    model: nn.Module,
    loader: Iterable,
    taps: Sequence[str] = ("features",),
    device: torch.device | str = "cpu",
    pool_size: int = 1,
    progress: bool = True,
) -> tuple[dict[str, Tensor], Tensor]:
    """Run ``model.forward_taps(images, taps)`` over a loader and collect pooled, flattened features.

    Args:
        model: A backbone in eval mode with ``forward_taps(x, names) -> dict[str, Tensor]``.
        loader: Yields ``(images, labels, ...)`` batches; extra items are ignored.
        taps: Names of the outputs to collect.
        device: Device the model runs on.
        pool_size: Side of the adaptive average pool applied to 4-D maps.
        progress: Show a tqdm progress bar (when the output is a terminal).

    Returns:
        ``({tap: float32 CPU features (N, D)}, int64 CPU labels (N,))``.
    """
    if pool_size < 1:
        raise ConfigError(f"pool_size must be at least 1, got {pool_size}")
    collected: dict[str, list[Tensor]] = {name: [] for name in taps}
    labels: list[Tensor] = []
    for batch in tqdm(loader, desc="features", disable=None if progress else True):
        images, batch_labels = batch[0], batch[1]
        outputs = model.forward_taps(images.to(device, non_blocking=True), list(taps))
        _check_taps(outputs, taps)
        for name in taps:
            collected[name].append(flatten_tap(outputs[name], pool_size).float().cpu())
        labels.append(torch.as_tensor(batch_labels).long().cpu())
    if not labels:
        raise DataError("the feature loader yielded no batches")
    return {name: torch.cat(chunks) for name, chunks in collected.items()}, torch.cat(labels)


def save_features(path: Path, features: Tensor, labels: Tensor) -> None:
    """Write ``features`` and ``labels`` to an ``.npz`` file atomically (temporary file, then ``os.replace``).

    Args:
        path: Destination file; parent directories are created.
        features: ``(N, D)`` features.
        labels: ``(N,)`` labels.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        np.savez(handle, features=features.detach().cpu().numpy(), labels=labels.detach().cpu().numpy())
    os.replace(tmp, path)


def load_features(path: Path) -> tuple[Tensor, Tensor]:
    """Read a feature file written by :func:`save_features`.

    Args:
        path: The ``.npz`` file.

    Returns:
        ``(float32 features (N, D), int64 labels (N,))``.

    Raises:
        DataError: The file is missing or lacks the ``features``/``labels`` arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature file not found: {path}")
    try:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"cannot read feature file {path}: {error}") from error
    if not {"features", "labels"} <= arrays.keys():
        raise DataError(f"{path} is not a feature file (needs arrays 'features' and 'labels', has {sorted(arrays)})")
    return torch.from_numpy(arrays["features"]).float(), torch.from_numpy(arrays["labels"]).long()
