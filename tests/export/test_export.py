"""``ssl-kd export`` and the ``export`` stage: manifest, verification, portability and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import numpy_helper

from ssl_kd.cli import main
from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.export import (
    EXPORT_FORMATS,
    ExportVerificationError,
    FeatureExtractor,
    load_stage,
    read_manifest,
    verify_export,
)
from ssl_kd.export.verify import verification_batch

from conftest import REPO

FORMATS = ("onnx", "torchscript", "safetensors")


@pytest.fixture(scope="module")
def exported(tiny_run: tuple[Path, Path]) -> Path:
    return tiny_run[1] / "export" / "exported"


@pytest.fixture(scope="module")
def extractor(tiny_run: tuple[Path, Path]) -> FeatureExtractor:
    return FeatureExtractor(load_stage(tiny_run[1] / "distill").model)


def test_manifest_describes_the_export(tiny_run: tuple[Path, Path], exported: Path) -> None:
    manifest = read_manifest(exported)
    meta = load_stage(tiny_run[1] / "distill").meta
    assert manifest["arch"] == "mobilenet_v3_small" and manifest["spec"]["arch"] == "mobilenet_v3_small"
    assert manifest["layer"] == "features" and manifest["pool_size"] == 1
    assert manifest["feature_dim"] == load_stage(tiny_run[1] / "distill").model.feature_dim
    assert manifest["input"]["shape"] == ["batch", 3, 32, 32] and manifest["input"]["dtype"] == "float32"
    assert manifest["normalization"] == {"mean": meta["mean"], "std": meta["std"]}
    assert manifest["source"]["stage"] == "distill" and manifest["source"]["run"] == str(tiny_run[1].resolve())
    assert len(manifest["source"]["model_sha256"]) == 64
    assert manifest["tolerance"] == 1e-4 and manifest["class_names"] == [str(i) for i in range(10)]
    assert set(manifest["files"]) == set(FORMATS)
    for entry in manifest["files"].values():
        assert (exported / entry["file"]).is_file()
        assert 0 <= entry["max_abs_diff"] <= manifest["tolerance"]
    metrics = json.loads((tiny_run[1] / "export" / "metrics.json").read_text())
    assert metrics == {f"{name}_max_abs_diff": manifest["files"][name]["max_abs_diff"] for name in FORMATS}


def test_onnx_batch_dimension_is_dynamic(exported: Path, extractor: FeatureExtractor) -> None:
    session = onnxruntime.InferenceSession(str(exported / "feature_extractor.onnx"), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)
    for batch in (1, 7):
        x = torch.randn(batch, 3, 32, 32)
        (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(out, extractor(x).numpy(), atol=1e-4)


@pytest.mark.parametrize("name", FORMATS)
def test_verification_accepts_the_written_files(name: str, exported: Path, extractor: FeatureExtractor) -> None:
    export_format = EXPORT_FORMATS.get(name)
    diff = verify_export(
        export_format, exported / export_format.filename, extractor, verification_batch((3, 32, 32)), 1e-4
    )
    assert diff <= 1e-4


def _perturb_torchscript(source: Path, target: Path) -> None:
    module = torch.jit.load(str(source))
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.5)
    torch.jit.save(module, str(target))


def _perturb_onnx(source: Path, target: Path) -> None:
    model = onnx.load(str(source))
    initializer = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    initializer.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(initializer) + 0.5, initializer.name))
    onnx.save(model, str(target))


@pytest.mark.filterwarnings(r"ignore:.*torch\.jit.*deprecated:FutureWarning")
@pytest.mark.parametrize(("name", "perturb"), [("torchscript", _perturb_torchscript), ("onnx", _perturb_onnx)])
def test_verification_fails_on_a_perturbed_export(
    name: str, perturb, exported: Path, extractor: FeatureExtractor, tmp_path: Path
) -> None:
    export_format = EXPORT_FORMATS.get(name)
    target = tmp_path / export_format.filename
    perturb(exported / export_format.filename, target)
    with pytest.raises(ExportVerificationError, match=r"max abs diff .* > tolerance"):
        verify_export(export_format, target, extractor, verification_batch((3, 32, 32)), 1e-4)


_WITHOUT_SSL_KD = """
import runpy, sys
sys.path.append({site!r})  # plain entry: .pth files (ssl_kd's editable install) are not processed
sys.argv = ["run_export.py", *{args!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


@pytest.mark.parametrize("name", ["onnx", "torchscript"])
def test_exports_run_in_a_process_without_ssl_kd(
    name: str, exported: Path, extractor: FeatureExtractor, tmp_path: Path
) -> None:
    x = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        expected = extractor(x)
    suffix = "npy" if name == "onnx" else "pt"
    for stem, tensor in (("inputs", x), ("expected", expected)):
        np.save(tmp_path / f"{stem}.npy", tensor.numpy())
        torch.save(tensor, tmp_path / f"{stem}.pt")
    args = [
        name,
        str(exported / EXPORT_FORMATS.get(name).filename),
        *(str(tmp_path / f"{s}.{suffix}") for s in ("inputs", "expected")),
    ]
    code = _WITHOUT_SSL_KD.format(
        site=sysconfig.get_paths()["purelib"], args=args, script=str(REPO / "scripts/run_export.py")
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ssl_kd_importable"] is False
    assert report["shape"] == [6, extractor.backbone.feature_dim] and report["max_abs_diff"] <= 1e-4


def test_stage_without_model_is_one_line_listing_stages(tiny_run: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    code = main(["export", str(tiny_run[1] / "probe"), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "has no model.pt" in err[0] and "distill" in err[0] and "teacher" in err[0]


def test_unknown_format_is_one_line_listing_formats(tiny_run: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    code = main(["export", str(tiny_run[1] / "distill"), "--format", "onnx", "tflite", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "unknown export format 'tflite'" in err[0] and "onnx, safetensors, torchscript" in err[0]
    assert not any(tmp_path.iterdir())


def test_export_stage_config_rejects_unknown_format(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    text = tiny_run[0].read_text().replace("kind: export", "kind: export\n  formats: [onnx, tflite]")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"tflite.*onnx, safetensors, torchscript"):
        load_pipeline(tmp_path / "bad.yaml")
