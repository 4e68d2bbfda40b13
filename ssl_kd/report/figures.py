"""Matplotlib figures of a run (Agg backend, no display): training curves, confusion matrix, 2-D embedding."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

NON_LOSS_KEYS = ("epoch", "step", "lr", "samples_per_s", "images_per_s", "data_wait_frac", "epoch_seconds")
DPI = 110


def to_png(figure: Figure) -> bytes:
    """Render ``figure`` as PNG bytes and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _is_accuracy(key: str) -> bool:
    return "top1" in key or "top5" in key or key.endswith(("acc", "accuracy"))


def curve_series(history: Sequence[dict[str, Any]]) -> tuple[dict[str, list], dict[str, list]]:
    """Split a ``history.json`` into loss-term and accuracy series: ``{name: [(epoch, value), ...]}``."""
    losses: dict[str, list] = {}
    accuracies: dict[str, list] = {}
    for record in history:
        for key, value in record.items():
            if key in NON_LOSS_KEYS or not isinstance(value, (int, float)):
                continue
            target = accuracies if _is_accuracy(key) else losses
            target.setdefault(key, []).append((record["epoch"], value))
    return losses, accuracies


def curves_figure(stage: str, history: Sequence[dict[str, Any]], final: dict[str, Any]) -> Figure:
    """Loss terms (left) and accuracy (right) per epoch; the stage's final ``test_top1`` closes the accuracy curve.

    Args:
        stage: Stage name (the title).
        history: The stage's ``history.json`` records.
        final: The stage's ``metrics.json``.
    """
    losses, accuracies = curve_series(history)
    last_epoch = history[-1]["epoch"] if history else 0
    for key, value in final.items():
        if _is_accuracy(key) and isinstance(value, float):
            accuracies.setdefault(key, [])
            if not accuracies[key] or accuracies[key][-1][0] != last_epoch:
                accuracies[key].append((last_epoch, value))
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(10, 3.4))
    for axis, series, label in ((loss_axis, losses, "loss"), (acc_axis, accuracies, "accuracy")):
        for name, points in series.items():
            epochs, values = zip(*points, strict=True)
            axis.plot(epochs, values, marker="o", markersize=3, label=name)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        if series:
            axis.legend(fontsize=8)
        else:
            axis.text(0.5, 0.5, f"no {label} recorded", ha="center", va="center", transform=axis.transAxes)
    loss_axis.set_yscale("log" if _positive(losses) else "linear")
    if last_epoch:
        acc_axis.set_xlim(0.5, last_epoch + 0.5)
    if sum(len(points) for points in accuracies.values()) <= len(accuracies):
        acc_axis.text(0.02, 0.02, "per-epoch test accuracy: set engine.eval_every", transform=acc_axis.transAxes)
    figure.suptitle(f"stage {stage}: training curves")
    return figure


def _positive(series: dict[str, list]) -> bool:
    return bool(series) and all(value > 0 for points in series.values() for _, value in points)


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    size = max(4.0, 0.45 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(matrix, cmap="Blues")
    ticks = range(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=90 if len(class_names) > 12 else 0)
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(class_names) <= 20:
        for (row, col), count in np.ndenumerate(matrix):
            colour = "white" if count > threshold else "black"
            axis.text(col, row, str(count), ha="center", va="center", fontsize=8, color=colour)
    figure.colorbar(image, ax=axis, fraction=0.046)
    axis.set_title(title)
    return figure


def embedding_figure(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """A 2-D scatter of ``points`` coloured by class."""
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    colours = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for index, name in enumerate(class_names):
        mask = labels == index
        if mask.any():
            axis.scatter(*points[mask].T, s=9, color=colours(index % colours.N), label=name)
    axis.legend(fontsize=7, markerscale=1.5, loc="best", ncol=2 if len(class_names) > 10 else 1)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_title(title)
    return figure
