"""Detections in the report: true and predicted boxes of each detection stage's detector on its first test images.

For every completed stage whose data is an object-detection dataset and whose ``model.pt`` is a detector (teacher,
students), the stage's own data config (``config.yaml``) rebuilds its test split (digit canvases are regenerated
when their cache is missing; COCO is read from the stage's ``data.root``), and the detector, in eval mode on the CPU
without gradients, predicts on the first :data:`IMAGES` test images in one batch. A stage without a model, whose data
is gone or that is not a detection stage is left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ssl_kd.detection.data import DetectionSource
from ssl_kd.detection.domain import DOMAIN, DetectionDataConfig, predict
from ssl_kd.detection.models import Detector
from ssl_kd.errors import SslKdError
from ssl_kd.models.saved import MODEL_FILE, load_saved_model
from ssl_kd.registry import DATASETS
from ssl_kd.report.figures import to_png
from ssl_kd.report.html import Section

IMAGES = 4
"""Test images drawn per stage: the first ones of the test split (deterministic)."""
SCORE_THRESHOLD = 0.3
"""Predicted boxes scoring below this are not drawn."""
TRUE_COLOUR = "#00e000"
PREDICTED_COLOUR = "#ff2020"
LOG = logging.getLogger("ssl_kd")


def draw_detections(
    axis: Axes,
    image: Tensor,
    truth: tuple[Tensor, Tensor],
    predicted: dict[str, Tensor],
    class_names: Sequence[str],
    threshold: float = SCORE_THRESHOLD,
) -> int:
    """Draw ``image`` (``(3, S, S)`` uint8), its true boxes (green, dashed) and the predicted boxes scoring at least
    ``threshold`` (red, solid, with class name and score) on ``axis``; return how many predicted boxes were drawn.

    Args:
        axis: the matplotlib axes.
        image: the image as the detector saw it.
        truth: true boxes ``(N, 4)`` xyxy pixels and labels ``(N,)`` in 1..num_classes.
        predicted: the detector's ``boxes``, ``scores`` and ``labels`` of the image.
        class_names: name of label ``k`` at index ``k - 1``.
        threshold: lowest score drawn.
    """
    axis.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    axis.set_axis_off()
    for x0, y0, x1, y1 in truth[0].tolist():
        axis.add_patch(
            Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=TRUE_COLOUR, linewidth=1.5, linestyle="--")
        )
    shown = predicted["scores"] >= threshold
    for (x0, y0, x1, y1), score, label in zip(
        predicted["boxes"][shown].tolist(),
        predicted["scores"][shown].tolist(),
        predicted["labels"][shown].long().tolist(),
        strict=True,
    ):
        axis.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=PREDICTED_COLOUR, linewidth=1.5))
        name = class_names[label - 1] if 0 < label <= len(class_names) else str(label)
        axis.text(
            x0,
            y0,
            f"{name} {score:.2f}",
            fontsize=6,
            color="white",
            verticalalignment="bottom",
            bbox={"facecolor": PREDICTED_COLOUR, "edgecolor": "none", "pad": 0.5},
            clip_on=True,
        )
    return int(shown.sum())


def detections_figure(
    stage: str,
    images: Sequence[Tensor],
    truths: Sequence[tuple[Tensor, Tensor]],
    predictions: Sequence[dict[str, Tensor]],
    class_names: Sequence[str],
) -> Figure:
    """One row of test images with their true and predicted boxes (see :func:`draw_detections`)."""
    figure = Figure(figsize=(2.6 * len(images), 3.0))
    axes = np.atleast_1d(figure.subplots(1, len(images)))
    for index, (axis, image, truth, predicted) in enumerate(zip(axes, images, truths, predictions, strict=True)):
        drawn = draw_detections(axis, image, truth, predicted, class_names)
        true_names = " ".join(class_names[k - 1] for k in truth[1].tolist())
        axis.set_title(f"test {index}: true {true_names or '-'}\n{drawn} predicted ≥ {SCORE_THRESHOLD}", fontsize=8)
    figure.suptitle(f"{stage}: true boxes green dashed, predictions red (class, score ≥ {SCORE_THRESHOLD})", fontsize=9)
    return figure


def _detection_data(stage_dir: Path) -> DetectionDataConfig | None:
    """The data config of a completed stage that read an object-detection dataset, else None."""
    state, config = stage_dir / "state.json", stage_dir / "config.yaml"
    if not (state.is_file() and config.is_file() and (stage_dir / MODEL_FILE).is_file()):
        return None
    if json.loads(state.read_text()).get("status") != "complete":
        return None
    data = (yaml.safe_load(config.read_text()) or {}).get("data") or {}
    if data.get("name") not in DATASETS or DATASETS.get(data["name"]).domain != DOMAIN:
        return None
    return DetectionDataConfig.model_validate(data)


def stage_detections(stage_dir: Path, count: int = IMAGES) -> tuple[Figure, str] | None:
    """The detections figure of one stage and a line about it; None when it is not a detection stage with a
    detector and readable test data."""
    try:
        data = _detection_data(stage_dir)
        if data is None:
            return None
        model, meta = load_saved_model(stage_dir)
        if not isinstance(model, Detector):
            return None
        source: DetectionSource = DATASETS.get(data.name).build(data).test
    except (SslKdError, OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        LOG.info("report: no detections of stage %s (%s)", stage_dir.name, str(error).splitlines()[0])
        return None
    predictions, kept, _ = predict(model, source, count, torch.device("cpu"), limit=count)
    if not kept:
        return None
    names = list(meta.get("class_names") or [str(k) for k in range(1, model.num_classes + 1)])
    figure = detections_figure(
        stage_dir.name, [source.load(i) for i in kept], [source.targets(i) for i in kept], predictions, names
    )
    boxes = sum(int((p["scores"] >= SCORE_THRESHOLD).sum()) for p in predictions)
    line = (
        f"{stage_dir.name}: {len(kept)} first test images of {data.name}, {boxes} predicted boxes with score ≥ "
        f"{SCORE_THRESHOLD} drawn."
    )
    return figure, line


def detections_section(run_dir: Path, stages: list[dict[str, Any]], out_dir: Path) -> Section | None:
    """One detections figure per completed detection stage with a detector; None when there is none."""
    section = Section("Detections on test images")
    for stage in stages:
        drawn = stage_detections(run_dir / stage["name"])
        if drawn is not None:
            png = to_png(drawn[0])
            (out_dir / f"detections_{stage['name']}.png").write_bytes(png)
            section.images.append((f"true and predicted boxes of {stage['name']} on test images", png))
            section.paragraphs.append(drawn[1])
    return section if section.images else None
