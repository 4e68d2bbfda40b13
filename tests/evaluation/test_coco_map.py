"""COCO box AP: equal to pycocotools' COCOeval run by hand, and to values computed by hand."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ssl_kd.evaluation.coco_map import coco_box_map

SIZE = (100, 100)


def _targets() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (torch.tensor([[10.0, 10, 40, 50], [50, 50, 90, 95]]), torch.tensor([1, 2])),
        (torch.tensor([[5.0, 5, 20, 25]]), torch.tensor([1])),
        (torch.tensor([[30.0, 20, 70, 60], [0, 0, 12, 12], [60, 5, 98, 40]]), torch.tensor([3, 2, 1])),
    ]


def _predictions() -> list[dict[str, torch.Tensor]]:
    return [
        {
            "boxes": torch.tensor([[11.0, 9, 41, 52], [48, 52, 88, 96], [0, 0, 30, 30]]),
            "scores": torch.tensor([0.9, 0.8, 0.3]),
            "labels": torch.tensor([1, 2, 1]),
        },
        {"boxes": torch.tensor([[6.0, 4, 22, 24]]), "scores": torch.tensor([0.6]), "labels": torch.tensor([2])},
        {
            "boxes": torch.tensor([[32.0, 22, 68, 64], [1, 1, 11, 13], [58, 8, 97, 42], [60, 60, 80, 80]]),
            "scores": torch.tensor([0.7, 0.95, 0.5, 0.4]),
            "labels": torch.tensor([3, 2, 1, 3]),
        },
    ]


def _pycocotools_by_hand(targets, predictions) -> list[float]:
    """COCOeval on hand-written COCO dicts (xywh), the reference the module must reproduce."""
    gt = {"images": [], "annotations": [], "categories": [{"id": k} for k in (1, 2, 3)]}
    dets = []
    for i, (boxes, labels) in enumerate(targets):
        gt["images"].append({"id": i + 1, "height": SIZE[0], "width": SIZE[1]})
        for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist(), strict=True):
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": label,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    for i, prediction in enumerate(predictions):
        for (x0, y0, x1, y1), score, label in zip(
            prediction["boxes"].tolist(), prediction["scores"].tolist(), prediction["labels"].tolist(), strict=True
        ):
            dets.append({"image_id": i + 1, "category_id": label, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = gt
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(dets), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return [float(evaluation.stats[i]) for i in (0, 1, 2, 3, 4, 5, 8)]


def test_equals_pycocotools_run_by_hand() -> None:
    metrics = coco_box_map(_predictions(), _targets(), SIZE, num_classes=3)
    reference = _pycocotools_by_hand(_targets(), _predictions())
    assert list(metrics.values()) == pytest.approx(reference, abs=1e-12)
    assert 0 < metrics["map"] < metrics["ap50"] <= 1  # some boxes are loose, one label wrong


def test_perfect_predictions_score_one() -> None:
    targets = _targets()
    perfect = [{"boxes": b, "scores": torch.ones(len(b)), "labels": y} for b, y in targets]
    metrics = coco_box_map(perfect, targets, SIZE, num_classes=3)
    assert metrics["map"] == metrics["ap50"] == metrics["ap75"] == metrics["ar100"] == pytest.approx(1.0)
    assert metrics["ap_large"] == -1.0  # no true box above 96 x 96 px: undefined, as pycocotools reports it


def test_one_missed_of_two_is_51_of_101() -> None:
    """Recall reaches 0.5 at precision 1: the recall points 0, .01, .., .50 (51 of 101) have precision 1."""
    targets = [(torch.tensor([[10.0, 10, 40, 40], [60, 60, 90, 90]]), torch.tensor([1, 1]))]
    found = [{"boxes": torch.tensor([[10.0, 10, 40, 40]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}]
    metrics = coco_box_map(found, targets, SIZE, num_classes=1)
    assert metrics["map"] == pytest.approx(51 / 101) and metrics["ar100"] == pytest.approx(0.5)


def test_no_detections_score_zero() -> None:
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}]
    metrics = coco_box_map(empty, [(torch.tensor([[1.0, 1, 30, 30]]), torch.tensor([1]))], SIZE, num_classes=1)
    assert metrics["map"] == 0.0 and metrics["ap50"] == 0.0
