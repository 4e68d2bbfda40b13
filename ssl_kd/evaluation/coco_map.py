"""COCO box average precision with pycocotools: mAP@[.5:.95], AP50, AP75 and AP by object size.

Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014, arXiv 1405.0312 (docs/methods/detection.md).
For each class and IoU threshold t in {0.50, 0.55, ..., 0.95}, detections (at most 100 per image, by score) are
matched greedily to unmatched true boxes with IoU >= t; precision is made monotone and read at the 101 recall points
0, 0.01, ..., 1 (0 beyond the largest recall reached)::

    AP_t = (1/101) Σ_{r ∈ {0, .01, .., 1}} max_{r' >= r} precision(r'),   mAP = mean over classes and t

Classes without true boxes are left out of the mean. Small / medium / large are COCO's absolute areas (< 32², 32² ..
96², > 96² pixels) of the true boxes (box area here: there are no masks). The ground truth and the detections are
handed to pycocotools' ``COCOeval`` as they are: this module only builds its inputs and reads its ``stats``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import Tensor

METRICS = ("map", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar100")
"""Keys of :func:`coco_box_map`, in the order of the COCOeval ``stats`` entries they read (0-5 and 8)."""
STATS_INDEX = (0, 1, 2, 3, 4, 5, 8)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def coco_ground_truth(targets: Sequence[tuple[Tensor, Tensor]], image_size: tuple[int, int], num_classes: int) -> COCO:
    """A pycocotools ``COCO`` of per-image ``(boxes xyxy, labels 1..C)``; image ``i`` has id ``i + 1``."""
    height, width = image_size
    images, annotations = [], []
    for index, (boxes, labels) in enumerate(targets):
        images.append({"id": index + 1, "height": height, "width": width})
        xywh = _xywh(boxes.detach().cpu().double().numpy().reshape(-1, 4))
        for box, label in zip(xywh, labels.tolist(), strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(label),
                    "bbox": [float(v) for v in box],
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
    coco = COCO()
    coco.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k} for k in range(1, num_classes + 1)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def detections_array(predictions: Sequence[dict[str, Tensor]]) -> np.ndarray:
    """``(D, 7)`` rows ``[image_id, x, y, w, h, score, label]`` for ``COCO.loadRes``; image ``i`` has id ``i + 1``."""
    rows = []
    for index, prediction in enumerate(predictions):
        boxes = prediction["boxes"].detach().cpu().double().numpy().reshape(-1, 4)
        if not len(boxes):
            continue
        scores = prediction["scores"].detach().cpu().double().numpy()[:, None]
        labels = prediction["labels"].detach().cpu().double().numpy()[:, None]
        ids = np.full((len(boxes), 1), index + 1.0)
        rows.append(np.concatenate([ids, _xywh(boxes), scores, labels], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 7))


def coco_box_map(
    predictions: Sequence[dict[str, Tensor]],
    targets: Sequence[tuple[Tensor, Tensor]],
    image_size: tuple[int, int],
    num_classes: int,
) -> dict[str, float]:
    """COCO box AP of ``predictions`` (per image ``{"boxes" xyxy, "scores", "labels"}``) against ``targets``.

    Returns ``map`` (AP@[.5:.95]), ``ap50``, ``ap75``, ``ap_small``, ``ap_medium``, ``ap_large`` and ``ar100``
    (recall with 100 detections per image), each in [0, 1]; an entry pycocotools leaves undefined (no true box of
    that size) is -1, as pycocotools reports it. No detections at all: every defined entry is 0.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} images")
    truth = coco_ground_truth(targets, image_size, num_classes)
    detections = detections_array(predictions)
    with contextlib.redirect_stdout(io.StringIO()):
        if len(detections):
            result = truth.loadRes(detections)
        else:
            result = COCO()
            result.dataset = {"images": truth.dataset["images"], "annotations": [], "categories": []}
            result.createIndex()
        evaluation = COCOeval(truth, result, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    return {key: float(stats[i]) for key, i in zip(METRICS, STATS_INDEX, strict=True)}
