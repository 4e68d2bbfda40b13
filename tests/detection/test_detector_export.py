"""A detector exports whole (image in; boxes, scores, labels out) to ONNX and TorchScript, verified on write."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime
import pytest
import torch

from ssl_kd import builtins
from ssl_kd.cli import main
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.registry import MODELS

builtins.load()  # stage kinds first: importing ssl_kd.export before them runs into ssl_kd.kg's import cycle
from ssl_kd.export import export_stage  # noqa: E402
from ssl_kd.export.base import ExportError  # noqa: E402
from ssl_kd.export.detection import SingleImageDetector, verification_images  # noqa: E402

SMALL = {"backbone": "mobilenet_v3_small", "backbone_options": {"small_input": False}, "fpn_channels": 32}


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detection stage folder whose untrained detector finds a varying number of boxes per canvas."""
    torch.manual_seed(0)
    probe = MODELS.get("retinanet")(num_classes=10, **SMALL, score_thresh=0.0).eval()
    with torch.no_grad():
        scores = probe(verification_images(64)[0])[0]["scores"]
        threshold = float(scores[19:21].mean())  # 20 boxes on the first canvas (no score near it), others vary
    model = MODELS.get("retinanet")(num_classes=10, **SMALL, score_thresh=threshold).eval()
    model.load_state_dict(probe.state_dict())
    counts = [len(model(image)[0]["boxes"]) for image in verification_images(64)]
    assert len(set(counts)) > 1 and min(counts) > 0, counts  # the export must not bake in one count
    stage_dir = tmp_path_factory.mktemp("run") / "student"
    stage_dir.mkdir()
    names = [str(d) for d in range(10)]
    save_model(stage_dir / "model.pt", model, model.spec(), image_size=64, class_names=names, dataset="x")
    return stage_dir


def test_onnx_and_torchscript_give_the_eager_detections(stage: Path, tmp_path: Path) -> None:
    assert main(["export", str(stage), "--format", "onnx", "torchscript", "--out", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"].keys() == {"onnx", "torchscript"} and manifest["domain"] == "object_detection"
    for entry in manifest["files"].values():
        assert entry["detections"] > 0 and entry["max_abs_diff"] <= 1e-4
    assert manifest["input"]["shape"] == [1, 3, 64, 64] and manifest["class_names"][0] == "0"
    # an image the verification did not see: another count, the same answer
    model = SingleImageDetector(MODELS.get("retinanet")(num_classes=10, **SMALL))
    model.detector.load_state_dict(torch.load(stage / "model.pt", weights_only=True)["state_dict"])
    model.detector.net.score_thresh = manifest["model"]["options"]["score_thresh"]
    image = verification_images(64, count=6)[5]
    with torch.no_grad():
        boxes, scores, labels = model.eval()(image)
    session = onnxruntime.InferenceSession(str(tmp_path / "detector.onnx"), providers=["CPUExecutionProvider"])
    onnx_boxes, _, onnx_labels = session.run(None, {"images": image.numpy()})
    assert onnx_labels.tolist() == labels.tolist()
    assert torch.allclose(torch.from_numpy(onnx_boxes), boxes, atol=1e-3)
    scripted = torch.jit.load(str(tmp_path / "detector.torchscript.pt"))
    assert torch.equal(scripted(image)[2], labels) and torch.allclose(scripted(image)[1], scores, atol=1e-5)


def test_a_feature_format_is_refused_for_a_detector(stage: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="exports as onnx, torchscript, not safetensors"):
        export_stage(stage, tmp_path, ["safetensors"])
