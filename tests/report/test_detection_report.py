"""The report's detections section: true and predicted boxes of every detection stage on its first test images."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image

from ssl_kd import builtins
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.models.base import build_model

builtins.load()  # stage kinds first: importing ssl_kd.report before them runs into ssl_kd.kg's import cycle
from ssl_kd.report import build_report  # noqa: E402
from ssl_kd.report.builder import run_stages  # noqa: E402
from ssl_kd.report.detections import (  # noqa: E402
    PREDICTED_COLOUR,
    TRUE_COLOUR,
    detections_section,
    draw_detections,
    stage_detections,
)

STAGES = ("teacher", "student_alone")


def test_report_draws_the_detections_of_every_detection_stage(tiny_detection_run: tuple[Path, list]) -> None:
    report = build_report(tiny_detection_run[0] / "run")
    html = report.read_text()
    assert "<h2>Detections on test images</h2>" in html
    alts = re.findall(r'<img alt="(true and predicted boxes of [^"]+)" src="data:image/png;base64,', html)
    assert alts == [f"true and predicted boxes of {stage} on test images" for stage in STAGES]
    for stage in STAGES:
        with Image.open(report.parent / f"detections_{stage}.png") as png:
            assert png.width > 3 * png.height  # one row of four images
        assert f"{stage}: 4 first test images of digits_detection" in html
    assert "Frozen features" not in html  # a detector's features are not a classifier's


def _colour_at(pixels: np.ndarray, figure: Figure, x: float, y: float) -> np.ndarray:
    """The rendered RGB (0..1) at image coordinates ``(x, y)`` of the figure's only axes."""
    column, row = figure.axes[0].transData.transform((x, y))
    return pixels[int(pixels.shape[0] - row), int(column)]


def _is(colour: np.ndarray, name: str) -> bool:
    return bool(np.abs(colour - np.asarray(to_rgb(name))).max() < 0.25)


def test_true_and_predicted_boxes_have_their_own_colours() -> None:
    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    truth = (torch.tensor([[8.0, 8.0, 28.0, 28.0]]), torch.tensor([1]))
    predicted = {
        "boxes": torch.tensor([[36.0, 36.0, 58.0, 58.0], [8.0, 40.0, 28.0, 60.0]]),
        "scores": torch.tensor([0.9, 0.1]),  # the second is below the threshold: not drawn
        "labels": torch.tensor([2.0, 1.0]),  # as predict() returns them: float
    }
    figure = Figure(figsize=(4, 4), dpi=100)
    figure.add_axes((0, 0, 1, 1))
    assert draw_detections(figure.axes[0], image, truth, predicted, ["a", "b"]) == 1
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3] / 255.0
    along = np.linspace(10, 26, 33)
    true_edge = [_colour_at(pixels, figure, x, 28.0) for x in along]  # bottom edge of the true box (dashed)
    assert sum(_is(c, TRUE_COLOUR) for c in true_edge) > len(along) // 3
    assert not any(_is(c, PREDICTED_COLOUR) for c in true_edge)
    predicted_edge = [_colour_at(pixels, figure, x + 28.0, 58.0) for x in along]  # bottom edge (solid)
    assert all(_is(c, PREDICTED_COLOUR) for c in predicted_edge)
    low_score_edge = [_colour_at(pixels, figure, x, 60.0) for x in along]
    assert all(c.max() < 0.1 for c in [*low_score_edge, _colour_at(pixels, figure, 32.0, 32.0)])


def test_a_stage_without_model_or_data_is_left_out(tiny_detection_run: tuple[Path, list], tmp_path: Path) -> None:
    teacher = tiny_detection_run[0] / "run" / "teacher"
    no_model, no_data = tmp_path / "no_model", tmp_path / "no_data"
    for stage_dir in (no_model, no_data):
        shutil.copytree(teacher, stage_dir, ignore=shutil.ignore_patterns("checkpoints"))
    (no_model / "model.pt").unlink()
    config = yaml.safe_load((no_data / "config.yaml").read_text())
    config["data"]["root"] = str(tmp_path / "gone")
    (no_data / "config.yaml").write_text(yaml.safe_dump(config))
    assert stage_detections(no_model) is None and stage_detections(no_data) is None


def test_a_classification_run_has_no_detections_section(tmp_path: Path) -> None:
    run_dir, out_dir = tmp_path / "run", tmp_path / "report"
    (run_dir / "classifier").mkdir(parents=True)
    out_dir.mkdir()
    (run_dir / "pipeline.yaml").write_text(yaml.safe_dump({"stages": [{"name": "classifier", "kind": "train"}]}))
    (run_dir / "classifier" / "state.json").write_text('{"status": "complete"}')
    (run_dir / "classifier" / "config.yaml").write_text(yaml.safe_dump({"data": {"name": "digits", "image_size": 32}}))
    model = build_model("mobilenet_v3_small", 10)
    save_model(run_dir / "classifier" / "model.pt", model, model.spec(), class_names=list("0123456789"))
    assert detections_section(run_dir, run_stages(run_dir), out_dir) is None
    assert not list(out_dir.iterdir())
