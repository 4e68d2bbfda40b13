"""Shared fixtures: tiny pipelines on a few digits per class, fast enough for the timed suite."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

TINY_PIPELINE = {
    "name": "tiny",
    "defaults": {
        "data": {"name": "digits", "batch_size": 10, "train_per_class": 3, "eval_batch_size": 500},
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 2, "log_every": 1},
        "optim": {"lr": 0.05},
    },
    "stages": [
        {
            "name": "teacher",
            "kind": "train",
            "method": "supervised",
            "model": {"arch": "resnet18", "options": {"stem": "imagenet"}},
            "epochs": 2,
        },
        {
            "name": "distill",
            "kind": "train",
            "method": "hinton_kd",
            "student": {"arch": "mobilenet_v3_small"},
            "teacher": {"from": "teacher"},
            "epochs": 2,
        },
        {
            "name": "probe",
            "kind": "probe",
            "model": {"from": "distill"},
            "shots": [1, 2],
            "draws": 2,
        },
    ],
}


def write_pipeline(path: Path, pipeline: dict) -> Path:
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return path


def run_command(pipeline: Path, run_dir: Path, *extra: str) -> list[str]:
    """The ``ssl-kd run`` command line of ``pipeline`` into ``run_dir`` (this interpreter, from the repository)."""
    return [sys.executable, "-m", "ssl_kd", "run", str(pipeline), "--run-dir", str(run_dir), *extra]


def kill_once_checkpointed(command: list[str], checkpoint: Path, env: dict[str, str], timeout: float = 240) -> None:
    """Start ``command`` and SIGKILL it as soon as ``checkpoint`` exists; fail if it finished first."""
    process = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + timeout
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"


def resume_and_compare(command: list[str], fresh_command: list[str], env: dict[str, str]) -> tuple[str, str]:
    """Rerun a killed ``command`` (it resumes) and, at the same time, ``fresh_command`` from scratch; both must
    succeed. Pass ``OMP_NUM_THREADS=1`` in ``env`` so that the two share the cores without oversubscribing them.

    Returns the two runs' stderr, for the caller's checks of what resumed.
    """
    processes = [
        subprocess.Popen(c, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in (command, fresh_command)
    ]
    stderrs = []
    for process in processes:
        _, stderr = process.communicate()
        assert process.returncode == 0, stderr
        stderrs.append(stderr)
    return stderrs[0], stderrs[1]


@pytest.fixture
def tiny_pipeline(tmp_path: Path) -> Path:
    """A three-stage teacher -> KD -> probe pipeline that runs in seconds."""
    return write_pipeline(tmp_path / "tiny.yaml", TINY_PIPELINE)


SMALL_DETECTOR = {"backbone": "mobilenet_v3_small", "backbone_options": {"small_input": False}, "fpn_channels": 32}


def tiny_detection(data_root: Path) -> dict:
    """A two-stage detection pipeline (RetinaNet teacher, FCOS student alone) on 30 digit canvases of 64 px."""
    return {
        "name": "tiny_detection",
        "defaults": {
            "data": {
                "name": "digits_detection",
                "root": str(data_root),
                "image_size": 64,
                "train_canvases": 24,
                "test_canvases": 6,
                "batch_size": 8,
                "eval_batch_size": 6,
            },
            "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 1, "log_every": 1, "device": "cpu"},
            "optim": {"name": "sgd", "lr": 0.01, "weight_decay": 1.0e-4, "schedule": "constant"},
            "epochs": 2,
        },
        "stages": [
            {"name": "teacher", "method": "detector", "model": {"arch": "retinanet", "options": SMALL_DETECTOR}},
            {"name": "student_alone", "method": "detector", "model": {"arch": "fcos", "options": SMALL_DETECTOR}},
        ],
    }


@pytest.fixture(scope="session")
def tiny_detection_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """``(root, stage outcomes)`` of :func:`tiny_detection` run once per test session into ``root / "run"``."""
    from ssl_kd.config import load_pipeline
    from ssl_kd.scheduler import Scheduler

    root = tmp_path_factory.mktemp("detection")
    (root / "data").mkdir()
    path = write_pipeline(root / "detection.yaml", tiny_detection(root / "data"))
    return root, Scheduler(load_pipeline(path), root / "run").run()


TINY_EXPORT_STAGE = {"name": "export", "kind": "export", "model": {"from": "distill"}}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(pipeline file, run folder)`` of the tiny pipeline plus an export stage, run once per test session."""
    from ssl_kd.config import load_pipeline
    from ssl_kd.scheduler import Scheduler

    root = tmp_path_factory.mktemp("tiny_run")
    probe = {**TINY_PIPELINE["stages"][2], "shots": [1], "draws": 1, "raw_pixels": False}
    raw = {**TINY_PIPELINE, "stages": [*TINY_PIPELINE["stages"][:2], probe, TINY_EXPORT_STAGE]}
    path = write_pipeline(root / "tiny_export.yaml", raw)
    Scheduler(load_pipeline(path), root / "run").run()
    return path, root / "run"


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny moving-digits tree (2 training and 1 test clip per class, 16 frames of 32 x 32), made once."""
    from ssl_kd.data.video import MovingDigitsConfig, generate_moving_digits

    root = tmp_path_factory.mktemp("videos") / "moving_digits"
    return generate_moving_digits(root, MovingDigitsConfig(train_per_class=2, test_per_class=1))
