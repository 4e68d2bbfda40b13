"""Training speed of a detection stage through the engine against a bare torchvision-style training loop.

The ``student_alone`` and ``teacher`` stages of ``pipelines/icd_digits_detection.yaml`` (RetinaNet on a
MobileNetV3-Small / ResNet-18 + FPN, 64 px digit canvases, batch 16), each run two ways in one process, epoch by
epoch interleaved:

- **engine**: the real ``Trainer`` assembled as ``ssl_kd/stages/train.py`` does (``build_training(cfg, ctx,
  monitor=...)``); its per-epoch monitor (``engine.eval_every=1``) evaluates nothing: it stamps the end of the
  engine epoch and then runs one bare epoch, so an engine epoch is timed from one monitor call to the next (steps,
  data loading, loss syncs, ``history.json`` and the checkpoint writes);
- **bare**: the loop of torchvision's detection references (``loss_dict = model(images, targets)``; ``sum``;
  ``zero_grad``; ``backward``; ``step``) on the same detector spec, the same AdamW settings, and its own copy of the
  stage's loader (same canvases, same seeded sampler, same v2 augmentation), with no schedule, no checkpoints, no
  logging.

Rate = training images per second of an epoch; per stage the median over the timed epochs (the first, warm-up,
epoch of each is dropped); ratio = engine rate / bare rate (target >= 0.95). Both loops run in the same process on
the same cores, alternating, so a load change on shared cores hits both alike.

Run from the repository root (writes ``benchmarks/results/detection_speed.md`` and the raw timings beside it in
``detection_speed.json``; ``--report-only`` rewrites the table from that file; ``--canvases N`` times epochs of N
training canvases instead of the pipeline's 2,000; ``--quick``: 160 canvases into ``*_quick.*`` files)::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.detection_speed
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.detection_speed --stages student_alone --repeats 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import hardware
from ssl_kd.config import load_pipeline
from ssl_kd.detection.domain import AugmentedDetections, DetectionBatch
from ssl_kd.detection.methods.detector import DetectorConfig
from ssl_kd.detection.models import Detector
from ssl_kd.engine.domain import Placement, whole_batch_loader
from ssl_kd.registry import MODELS
from ssl_kd.stages.base import StageContext
from ssl_kd.stages.train import build_training

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "icd_digits_detection.yaml"
RESULTS = REPO / "benchmarks" / "results"
TARGET_RATIO = 0.95
LOG = logging.getLogger("ssl_kd")


class TorchvisionStyleDetector(torch.nn.Module):
    """A :class:`Detector` called the torchvision way: ``model(images, targets)`` returns the loss dict."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        features = self.detector.features(self.detector.normalize(images))
        boxes = [target["boxes"] for target in targets]
        labels = [target["labels"] for target in targets]
        return self.detector.detection_losses(images, features, boxes, labels)


class BareLoop:
    """torchvision's reference detection loop over its own copy of the stage's loader, nothing else."""

    def __init__(self, cfg: DetectorConfig, source: Any, num_classes: int, device: torch.device) -> None:
        torch.manual_seed(cfg.engine.seed)
        detector = MODELS.get(cfg.model.arch)(num_classes=num_classes, **cfg.model.options)
        self.model = TorchvisionStyleDetector(detector).to(device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay
        )
        self.loader, self.sampler = whole_batch_loader(
            AugmentedDetections(source, cfg.data.augment), cfg, Placement(device, None)
        )
        self.device = device
        self.epochs = 0

    def epoch(self) -> float:
        """Train one epoch; return its wall time in seconds."""
        self.sampler.set_epoch(self.epochs)
        self.epochs += 1
        self.model.train()
        start = time.perf_counter()
        for batch in self.loader:
            inputs: DetectionBatch = batch.inputs
            images = inputs.images.to(self.device)
            targets = [
                {"boxes": b.to(self.device), "labels": y.to(self.device)}
                for b, y in zip(inputs.boxes, inputs.labels, strict=True)
            ]
            loss_dict = self.model(images, targets)
            losses = sum(loss_dict.values())
            self.optimizer.zero_grad(set_to_none=True)
            losses.backward()
            self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - start


@dataclass
class Interleaver:
    """The engine's per-epoch monitor: stamps the engine epoch's end, then runs one bare epoch."""

    bare: BareLoop | None = None
    bare_seconds: list[float] = field(default_factory=list)
    engine_seconds: list[float] = field(default_factory=list)
    mark: float = 0.0

    def __call__(self) -> dict[str, float]:
        self.engine_seconds.append(time.perf_counter() - self.mark)
        self.bare_seconds.append(self.bare.epoch())
        self.mark = time.perf_counter()
        return {}


def run_stage(stage: str, repeats: int, canvases: int | None, run_dir: Path) -> dict[str, Any]:
    """``1 + repeats`` engine epochs of ``stage``, each followed by a bare epoch; their wall times."""
    overrides = [
        f"{stage}.epochs={1 + repeats}",
        "engine.tensorboard=false",
        "engine.progress=false",
        "engine.eval_every=1",
        "engine.device=cpu",
    ]
    if canvases is not None:
        overrides += [f"data.train_canvases={canvases}", "data.test_canvases=16"]
    cfg = load_pipeline(PIPELINE, overrides).stage(stage)
    stage_dir = run_dir / stage
    shutil.rmtree(stage_dir, ignore_errors=True)  # a leftover checkpoint would be resumed
    stage_dir.mkdir(parents=True)
    interleaver = Interleaver()
    training = build_training(cfg, StageContext(run_dir, stage_dir, "detection_speed", LOG), monitor=interleaver)
    splits = training.data.splits
    interleaver.bare = BareLoop(cfg, splits.train, training.data.facts.num_classes, training.placement.device)
    interleaver.mark = time.perf_counter()
    training.trainer.fit()
    sampler = training.trainer.sampler
    return {
        "stage": stage,
        "backbone": cfg.model.options.get("backbone"),
        "images_per_epoch": sampler.batches_per_epoch * sampler.batch_size,
        "engine_seconds": interleaver.engine_seconds[1:],
        "bare_seconds": interleaver.bare_seconds[1:],
    }


def tabulate(raw: dict[str, Any]) -> str:
    """The markdown report of ``raw`` (the JSON this script writes)."""
    lines = [
        "# Detection training speed: engine against a bare torchvision-style loop",
        "",
        f"Machine: {raw['machine']}; torch {raw['torch']}, {raw['threads']} torch thread(s); 1-min load average "
        f"{raw['load']:.2f} at the start (the cores were shared with other jobs: absolute rates are low and noisy, "
        "the ratio is what this measures). "
        f"Command: `{raw['command']}` ({raw['date']}).",
        "",
        "| stage | backbone | images/epoch | timed epochs | engine img/s | bare img/s | ratio (target >= 0.95) |"
        " per-epoch ratios |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in raw["rows"]:
        engine = row["images_per_epoch"] / statistics.median(row["engine_seconds"])
        bare = row["images_per_epoch"] / statistics.median(row["bare_seconds"])
        pairs = ", ".join(f"{b / e:.3f}" for b, e in zip(row["bare_seconds"], row["engine_seconds"], strict=True))
        lines.append(
            f"| {row['stage']} | {row['backbone']} | {row['images_per_epoch']} | {len(row['engine_seconds'])} | "
            f"{engine:.1f} | {bare:.1f} | {engine / bare:.3f} | {pairs} |"
        )
    lines += [
        "",
        "Rates are medians over the timed epochs (the warm-up epoch dropped). The engine epoch includes its loss "
        "syncs every `engine.log_every` steps, `history.json` and a checkpoint every `engine.checkpoint_every` steps "
        "and at the epoch end; the bare loop has none of them (see the script's docstring).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", default=["student_alone", "teacher"])
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per stage after the warm-up epoch")
    parser.add_argument("--canvases", type=int, default=None, help="training canvases (default: the pipeline's)")
    parser.add_argument("--quick", action="store_true", help="160 training canvases, results in *_quick.* files")
    parser.add_argument("--run-dir", type=Path, default=REPO / "runs" / "detection_speed")
    parser.add_argument("--report-only", action="store_true", help="rewrite the table from the saved raw timings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    name = "detection_speed_quick" if args.quick else "detection_speed"
    canvases = 160 if args.quick else args.canvases
    raw_file = RESULTS / f"{name}.json"
    if args.report_only:
        raw = json.loads(raw_file.read_text())
    else:
        raw = {
            "machine": hardware(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load": os.getloadavg()[0],
            "command": "python -m benchmarks.detection_speed " + " ".join(sys.argv[1:] if argv is None else argv),
            "date": datetime.now(timezone.utc).isoformat(timespec="minutes"),
            "rows": [run_stage(stage, args.repeats, canvases, args.run_dir) for stage in args.stages],
        }
        raw_file.write_text(json.dumps(raw, indent=1) + "\n")
    report = tabulate(raw)
    (RESULTS / f"{name}.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
