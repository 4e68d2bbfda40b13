"""The ssl-kd command line as a user meets it: exit codes and one-line errors."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, TINY_PIPELINE, write_pipeline


def _ssl_kd(*args: str) -> subprocess.CompletedProcess:
    """``python -m ssl_kd ARGS`` in a fresh interpreter: for what only a real process shows (the entry point, the
    whole of stderr, argparse's exits); the other tests call ``main`` in-process, which skips the torch import."""
    return subprocess.run(
        [sys.executable, "-m", "ssl_kd", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_validate_ok_for_shipped_pipeline() -> None:
    result = _ssl_kd("validate", "pipelines/kd_digits.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "distill (train)" in result.stdout


@pytest.mark.parametrize("pipeline", sorted(p.name for p in (REPO / "pipelines").glob("*.yaml")))
def test_every_shipped_pipeline_validates(pipeline: str, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _in_process(capsys, "validate", str(REPO / "pipelines" / pipeline))
    assert code == 0, err
    assert ": ok: pipeline" in out


def test_validate_lists_paths_missing_here_and_require_paths_fails_on_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pipeline = str(REPO / "pipelines" / "kd_imagenet.yaml")
    code, out, _ = _in_process(capsys, "validate", pipeline, f"data.root={tmp_path / 'none'}")
    assert code == 0
    assert "paths not on this machine" in out
    assert f"stage 'distill': data.root '{tmp_path / 'none'}' does not exist" in out
    assert "weights file '/ckpt/resnet50-11ad3fa6.pth' does not exist" in out
    code, _, err = _in_process(capsys, "validate", pipeline, f"data.root={tmp_path / 'none'}", "--require-paths")
    assert code == 2
    assert f"data.root '{tmp_path / 'none'}' does not exist" in err
    assert "Traceback" not in err


def test_validate_misspelled_key_exits_nonzero_with_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = copy.deepcopy(TINY_PIPELINE)
    raw["stages"][1]["temperature"] = raw["stages"][1].pop("epochs")
    raw["stages"][1]["tua"] = 2.0
    code, _, err = _in_process(capsys, "validate", str(write_pipeline(tmp_path / "typo.yaml", raw)))
    assert code == 2
    assert "unknown key 'tua' (did you mean 'tau'?)" in err
    assert "Traceback" not in err


def test_missing_data_path_is_one_clear_line(tiny_pipeline: Path, tmp_path: Path) -> None:
    result = _ssl_kd(
        "run",
        str(tiny_pipeline),
        "data.name=image_folder",
        "data.root=/no/such/dir",
        "--run-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(set(lines)) == 1, result.stderr
    assert "data.root '/no/such/dir' does not exist" in lines[0]


def test_list_shows_every_registry(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _in_process(capsys, "list")
    assert code == 0
    for expected in (
        "models:",
        "resnet18",
        "mobilenet_v2",
        "alexnet",
        "methods:",
        "hinton_kd",
        "datasets:",
        "digits",
        "cifar10",
        "image_folder",
        "stages:",
        "probe",
    ):
        assert expected in out


def test_help_describes_overrides() -> None:
    result = _ssl_kd("run", "--help")
    assert result.returncode == 0 and "--from" in result.stdout and "--run-dir" in result.stdout


def test_dry_run_prints_plan(tiny_pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _in_process(capsys, "run", str(tiny_pipeline), "--run-dir", str(tmp_path / "r"), "--dry-run")
    assert code == 0
    assert out.split() == ["teacher:", "run", "distill:", "run", "probe:", "run"]


def test_list_methods_name_shows_the_methods_own_keys(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _in_process(capsys, "list", "methods", "icd")
    assert code == 0 and out.startswith("icd [object_detection]: ")
    line = next(line for line in out.splitlines() if line.split()[:1] == ["decoder_pretrain_steps"])
    assert line.split()[1] == "0" and "before the student's first step" in line
    assert "teacher                  (required)" in out and "'lr': 0.0001" in out  # aux_optim's factory default
    assert not any(line.split()[:1] == ["epochs"] for line in out.splitlines())  # common keys are summarised


def test_list_methods_names_every_registered_methods_keys(capsys: pytest.CaptureFixture) -> None:
    from ssl_kd import builtins
    from ssl_kd.cli import method_keys
    from ssl_kd.registry import METHODS

    builtins.load()
    for name, method in METHODS.items():
        assert method_keys(name, method).startswith(f"{name} [")


def test_list_of_an_unknown_method_names_the_nearest(capsys: pytest.CaptureFixture) -> None:
    code, _, err = _in_process(capsys, "list", "methods", "icdd")
    assert code != 0 and "did you mean 'icd'" in err
    code, _, err = _in_process(capsys, "list", "models", "icd")
    assert code != 0 and "follows 'methods' only" in err


def _in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from ssl_kd.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_shows_the_layout_and_the_mapping_onto_an_arch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import torch
    import torchvision

    state = torchvision.models.resnet18(weights=None).state_dict()
    moco = {f"module.encoder_q.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    moco["module.encoder_q.fc.0.weight"] = torch.ones(2, 2)
    torch.save({"epoch": 200, "state_dict": moco}, tmp_path / "moco.pth.tar")
    code, out, _ = _in_process(capsys, "inspect", str(tmp_path / "moco.pth.tar"))
    assert code == 0 and "top-level keys: epoch, state_dict" in out and "layout: moco_v1_v2" in out
    assert "tensors: 121;" in out and "module.encoder_q.layer1. 24" in out
    code, out, _ = _in_process(capsys, "inspect", str(tmp_path / "moco.pth.tar"), "--arch", "resnet18")
    assert "onto resnet18: 120 tensors loaded" in out and "dropped (projection head): 1" in out
    assert code == 0 and "fits: yes" in out
    code, out, _ = _in_process(capsys, "inspect", str(tmp_path / "moco.pth.tar"), "--arch", "resnet50")
    assert code == 1 and "fits: no" in out and "problem: " in out


def test_bad_weights_and_devices_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _in_process(capsys, "inspect", str(tmp_path / "none.pth"))
    assert code == 2 and err.strip() == f"ssl-kd: error: weights file not found: {tmp_path / 'none.pth'}"
    code, _, err = _in_process(capsys, "validate", str(REPO / "pipelines/kd_digits.yaml"), "engine.device=tpu")
    assert code == 2 and "engine.device must be auto, cpu, cuda or cuda:N" in err and len(err.splitlines()) == 1
    arch = "distill.student.arch=timm:mobilenetv4_conv_smal"
    code, _, err = _in_process(capsys, "validate", str(REPO / "pipelines/kd_digits.yaml"), arch)
    assert code == 2 and "nearest: mobilenetv4_conv_small" in err
