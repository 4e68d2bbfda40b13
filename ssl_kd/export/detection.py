"""Export a detection stage's detector whole: image in, ``boxes``, ``scores``, ``labels`` out (post-processing inside).

Formats: ``onnx`` (``detector.onnx``, run with onnxruntime) and ``torchscript`` (``detector.torchscript.pt``,
``torch.jit.load``). Both take one image ``images`` of shape ``(1, 3, S, S)``, float in [0, 1] at the stage's fixed
size ``S`` (the detector normalises it itself and never resizes), and return ``boxes`` ``(N, 4)`` xyxy pixels,
``scores`` ``(N,)`` and ``labels`` ``(N,)`` int64 in 1..num_classes (names in ``manifest.json``), N varying per
image: the score threshold, per-level top-k, class-wise NMS and the detections-per-image cap run inside the graph.
Both are traced (``torch.jit.trace``; ONNX through the TorchScript-based exporter, opset 17, whose symbolics cover
torchvision's NMS): the dynamo exporter does not take the data-dependent detection count.

Every file is loaded back right after writing and run on seeded digit canvases of the stage's size beside the eager
detector: the detection counts and labels must be equal, and boxes (in units of the image side) and scores must
agree within the tolerance, else the export fails (``ExportVerificationError``). The differences go into the
manifest.
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ssl_kd.detection.data import DigitCanvasSettings, digit_glyphs, render_canvas
from ssl_kd.detection.models import Detector
from ssl_kd.engine.checkpoint import atomic_write_json
from ssl_kd.export.base import ExportError, ExportVerificationError
from ssl_kd.export.manifest import MANIFEST_FILE, MANIFEST_VERSION, provenance
from ssl_kd.export.source import StageModel

DETECTION_FORMATS = ("onnx", "torchscript")
FILES = {"onnx": "detector.onnx", "torchscript": "detector.torchscript.pt"}
INPUT = "images"
OUTPUTS = ("boxes", "scores", "labels")
OPSET = 17
VERIFY_IMAGES = 4
VERIFY_SEED = 0
LOG = logging.getLogger("ssl_kd")
Run = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]


class SingleImageDetector(nn.Module):
    """``(1, 3, S, S)`` image in [0, 1] -> ``(boxes, scores, labels)`` of a :class:`Detector` (what is exported)."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector.eval()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        detections = self.detector(images)[0]
        return detections["boxes"], detections["scores"], detections["labels"]


def is_detector(model: Any) -> bool:
    """Whether a stage's model is a detector (exported by this module)."""
    return isinstance(model, Detector)


def verification_images(size: int, count: int = VERIFY_IMAGES) -> Tensor:
    """``count`` seeded digit canvases ``(count, 1, 3, S, S)`` in [0, 1]: images a detector finds things in."""
    glyphs, labels = digit_glyphs()
    settings = DigitCanvasSettings(train_canvases=count, test_canvases=0, size=size, seed=VERIFY_SEED)
    rng = np.random.default_rng(VERIFY_SEED)
    canvases = [render_canvas(settings, glyphs, labels, rng)[0] for _ in range(count)]
    return torch.stack(canvases)[:, None, None].expand(-1, -1, 3, -1, -1).contiguous()


def _write(name: str, module: SingleImageDetector, example: Tensor, path: Path) -> dict[str, Any]:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about data-dependent shapes: verified below instead
        if name == "torchscript":
            torch.jit.trace(module, example, check_trace=False).save(str(path))
            return {"exporter": "torch.jit.trace"}
        torch.onnx.export(
            module,
            (example,),
            path,
            dynamo=False,
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes={output: {0: "detections"} for output in OUTPUTS},
            opset_version=OPSET,
        )
    return {
        "exporter": "torchscript-based torch.onnx.export",
        "opset": OPSET,
        "onnx": importlib.metadata.version("onnx"),
    }


def _load(name: str, path: Path) -> Run:
    if name == "torchscript":
        module = torch.jit.load(str(path))
        return lambda image: module(image)
    try:
        import onnxruntime
    except ImportError as error:
        raise ExportError("checking an ONNX export needs onnxruntime (pip install onnxruntime)") from error
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        boxes, scores, labels = session.run(None, {INPUT: image.numpy()})
        return torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels)

    return run


def verify_detections(
    run: Run, module: SingleImageDetector, images: Tensor, size: int, tolerance: float, what: str
) -> dict[str, Any]:
    """Run ``images`` one by one through ``run`` and ``module``; return the max differences, or raise above tolerance.

    Raises:
        ExportVerificationError: a count or label differs, or a box / score differs by more than ``tolerance``.
    """
    box_diff = score_diff = 0.0
    detections = 0
    module.eval()
    for index, image in enumerate(images):
        with torch.no_grad():
            expected = module(image)
            actual = run(image)
        if actual[0].shape != expected[0].shape or not torch.equal(actual[2].long(), expected[2]):
            raise ExportVerificationError(
                f"{what}: image {index}: {len(actual[0])} detections / labels {actual[2].tolist()[:5]}... against "
                f"the eager {len(expected[0])} / {expected[2].tolist()[:5]}..."
            )
        if len(expected[0]):
            box_diff = max(box_diff, float((actual[0].double() - expected[0].double()).abs().max()) / size)
            score_diff = max(score_diff, float((actual[1].double() - expected[1].double()).abs().max()))
        detections += len(expected[0])
    if max(box_diff, score_diff) > tolerance:
        raise ExportVerificationError(
            f"{what}: box diff {box_diff:.3g} (of the image side), score diff {score_diff:.3g} > tolerance {tolerance}"
        )
    return {
        "max_abs_diff": max(box_diff, score_diff),
        "box_diff": box_diff,
        "score_diff": score_diff,
        "detections": detections,
    }


def resolve_detection_formats(names: Sequence[str] | None) -> list[str]:
    """The detection formats in ``names`` (``None``: both), duplicates dropped.

    Raises:
        ExportError: a format a detector cannot be exported in (e.g. ``safetensors``); the message lists those it can.
    """
    chosen = list(dict.fromkeys(names or DETECTION_FORMATS))
    bad = [name for name in chosen if name not in DETECTION_FORMATS]
    if bad:
        raise ExportError(
            f"a detection stage exports as {', '.join(DETECTION_FORMATS)}, not {', '.join(bad)} (the detector whole, "
            "post-processing included)"
        )
    return chosen


def export_detection_stage(
    source: StageModel, out_dir: Path, formats: Sequence[str] | None, tolerance: float
) -> dict[str, Any]:
    """Write a detection stage's detector in ``formats`` and ``manifest.json`` to ``out_dir``, each file verified.

    Returns:
        The manifest.

    Raises:
        ExportError: a format that does not apply; ``ExportVerificationError`` when a file disagrees with eager.
    """
    chosen = resolve_detection_formats(formats)
    detector: Detector = source.model.eval()
    size = int(source.meta["image_size"])
    module = SingleImageDetector(detector).eval()  # the exporters restore the mode they found: eval throughout
    images = verification_images(size)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "domain": "object_detection",
        "model": detector.spec(),
        "input": {
            "name": INPUT,
            "shape": [1, 3, size, size],
            "dtype": "float32",
            "range": [0, 1],
            "layout": "RGB, not normalised (the detector normalises), never resized",
        },
        "outputs": {
            "boxes": {"shape": ["detections", 4], "dtype": "float32", "format": "xyxy pixels"},
            "scores": {"shape": ["detections"], "dtype": "float32"},
            "labels": {
                "shape": ["detections"],
                "dtype": "int64",
                "values": "1..num_classes (index + 1 of class_names)",
            },
        },
        "class_names": source.meta.get("class_names"),
        "dataset": source.meta.get("dataset"),
        "tolerance": tolerance,
        "verification": {
            "images": f"{VERIFY_IMAGES} seeded digit canvases of {size} px, one at a time",
            "metric": "equal counts and labels; max abs diff of boxes / image side and of scores",
        },
        **provenance(source),
        "files": {},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        path = out_dir / FILES[name]
        entry = {"file": FILES[name]} | _write(name, module, images[0], path)
        entry |= verify_detections(_load(name, path), module, images, size, tolerance, f"{name} export {path}")
        LOG.info(
            "exported %s: %s (max abs diff %.3g over %d detections)",
            name,
            path,
            entry["max_abs_diff"],
            entry["detections"],
        )
        manifest["files"][name] = entry
    atomic_write_json(out_dir / MANIFEST_FILE, manifest)
    return manifest
