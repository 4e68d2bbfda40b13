"""Acceptance check: exports run in fresh virtualenvs without ssl_kd and match the eager model on a test split.

1. With ssl_kd (this interpreter): export ``STAGE_DIR`` (ONNX + TorchScript), preprocess the dataset's test split
   with the manifest's normalisation and compute the eager model's features.
2. Create ``WORK/venv-onnx`` with only ``onnxruntime`` (and its dependencies, numpy among them) and
   ``WORK/venv-torch`` with only ``torch`` (pinned as in setup.sh, with its own dependencies).
3. In each, run ``scripts/run_export.py`` with ``python -I`` (isolated: no PYTHONPATH, no user site, no
   current directory) and compare the features with the eager ones: max abs diff <= ``--tolerance``.

Usage:
    .venv/bin/python scripts/check_exports_fresh_venv.py runs/kd_digits/distill [--work /tmp/fresh] [--keep]

Prints a JSON summary and exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ssl_kd.data import eval_loader, eval_transform, load_splits
from ssl_kd.evaluation.extract import stage_data
from ssl_kd.export import FeatureExtractor, export_stage, load_stage

HERE = Path(__file__).resolve().parent
PACKAGES = {"onnx": ["onnxruntime"], "torchscript": ["torch==2.14.1"]}
FILES = {"onnx": ("feature_extractor.onnx", "npy"), "torchscript": ("feature_extractor.torchscript.pt", "pt")}


def reference(stage_dir: Path, work: Path) -> None:
    """Export the stage and write the preprocessed test split and the eager features (``.npy`` and ``.pt``)."""
    export_stage(stage_dir, work / "exported", formats=["onnx", "torchscript"])
    source = load_stage(stage_dir)
    data = stage_data(source)
    splits = load_splits(data)
    transform = eval_transform(data.image_size, source.meta["mean"], source.meta["std"])
    inputs = torch.cat([images for images, _, _ in eval_loader(splits.test, transform, data)]).contiguous()
    with torch.no_grad():
        expected = FeatureExtractor(source.model)(inputs).contiguous()
    for name, tensor in (("inputs", inputs), ("expected", expected)):
        np.save(work / f"{name}.npy", tensor.numpy())
        torch.save(tensor, work / f"{name}.pt")


def fresh_venv(path: Path, packages: list[str]) -> Path:
    """A new virtualenv at ``path`` with only ``packages`` installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
    python = path / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
    return python


def check(fmt: str, work: Path, tolerance: float) -> dict:
    """Build the format's venv and run its export there; the result with ``ok``."""
    python = fresh_venv(work / f"venv-{fmt}", PACKAGES[fmt])
    filename, suffix = FILES[fmt]
    command = [str(python), "-I", str(HERE / "run_export.py"), fmt, str(work / "exported" / filename)]
    command += [str(work / f"inputs.{suffix}"), str(work / f"expected.{suffix}")]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True)
    result["venv_packages"] = freeze.stdout.split()
    result["ok"] = result["max_abs_diff"] <= tolerance and not result["ssl_kd_importable"]
    return result


def main() -> int:
    """Parse arguments, run both checks, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage_dir", type=Path)
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (venvs are ~6 GB with torch)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ssl_kd_fresh_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        reference(args.stage_dir, work)
        results = [check(fmt, work, args.tolerance) for fmt in PACKAGES]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
