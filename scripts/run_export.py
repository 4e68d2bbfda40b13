"""Run an exported feature extractor with nothing but onnxruntime (+ numpy) or torch; no ssl_kd.

Used by ``check_exports_fresh_venv.py`` inside fresh virtualenvs (run with ``python -I``)::

    python -I run_export.py onnx feature_extractor.onnx inputs.npy expected.npy
    python -I run_export.py torchscript feature_extractor.torchscript.pt inputs.pt expected.pt

Prints one JSON line: the format, whether ``ssl_kd`` is importable, the output shape and the max abs difference.
"""

from __future__ import annotations

import importlib.util
import json
import sys


def run_onnx(model: str, inputs: str, expected: str) -> tuple[list[int], float]:
    """Features of ``inputs`` from the ONNX file (onnxruntime, CPU) and their max abs diff to ``expected``."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    batch = np.load(inputs)
    name = session.get_inputs()[0].name
    outputs = np.concatenate([session.run(None, {name: batch[i : i + 100]})[0] for i in range(0, len(batch), 100)])
    return list(outputs.shape), float(np.abs(outputs - np.load(expected)).max())


def run_torchscript(model: str, inputs: str, expected: str) -> tuple[list[int], float]:
    """Features of ``inputs`` from the TorchScript file and their max abs diff to ``expected``."""
    import torch

    module = torch.jit.load(model, map_location="cpu").eval()
    batch = torch.load(inputs, weights_only=True)
    with torch.no_grad():
        outputs = torch.cat([module(chunk) for chunk in batch.split(100)])
    return list(outputs.shape), float((outputs - torch.load(expected, weights_only=True)).abs().max())


def main(argv: list[str]) -> int:
    """``argv``: format, model file, inputs file, expected-features file."""
    fmt, model, inputs, expected = argv
    runner = {"onnx": run_onnx, "torchscript": run_torchscript}[fmt]
    shape, diff = runner(model, inputs, expected)
    has_ssl_kd = importlib.util.find_spec("ssl_kd") is not None
    print(json.dumps({"format": fmt, "ssl_kd_importable": has_ssl_kd, "shape": shape, "max_abs_diff": diff}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
