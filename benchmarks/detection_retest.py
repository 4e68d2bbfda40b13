"""Re-evaluate trained detectors on a digit-canvas test set of another size, to see how much of a row's
seed-to-seed spread is test-set noise.

The test canvases are generated like the pipeline's (``canvas_seed`` 0, 64 px, the same training pool of digits) into
their own cache folder; the models are read from their stage folders (``model.pt``, nothing in it runs).

    python -m benchmarks.detection_retest --test-canvases 4000 runs/sweeps/icd_pilot_clip/runs/default/seed=1*/icd
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ssl_kd.detection.data import DigitCanvasSettings, digit_canvas_splits
from ssl_kd.detection.domain import predict
from ssl_kd.evaluation.coco_map import coco_box_map
from ssl_kd.stages.base import load_stage_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stages", nargs="+", type=Path, help="stage folders holding a detector's model.pt")
    parser.add_argument("--test-canvases", type=int, default=4000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--cache", type=Path, default=Path("data/digits_detection_retest"))
    parser.add_argument("--out", type=Path, help="write {stage folder: mAP} here as JSON")
    args = parser.parse_args()
    settings = DigitCanvasSettings(test_canvases=args.test_canvases, size=args.image_size)
    test = digit_canvas_splits(args.cache, settings).test
    size = (args.image_size, args.image_size)
    results = {}
    for stage_dir in args.stages:
        model = load_stage_model(stage_dir)
        predictions, kept, _ = predict(model, test, batch_size=50, device=torch.device("cpu"))
        metrics = coco_box_map(predictions, [test.targets(i) for i in kept], size, model.num_classes)
        results[str(stage_dir)] = metrics["map"]
        print(f"{stage_dir}: mAP {metrics['map']:.4f} on {len(kept)} canvases", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
