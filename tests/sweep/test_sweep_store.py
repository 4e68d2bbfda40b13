"""The stage store: relative links, the lock per fingerprint, and two concurrent sweeps sharing a stage once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ssl_kd.sweep.store import link_stage, stage_lock

from conftest import REPO, write_pipeline

ONE_STAGE = {
    "name": "one",
    "defaults": {
        "data": {"name": "digits", "batch_size": 10, "train_per_class": 2, "eval_batch_size": 500},
        "engine": {"progress": False, "tensorboard": False},
    },
    "stages": [{"name": "teacher", "method": "supervised", "model": {"arch": "mobilenet_v3_small"}, "epochs": 1}],
}


def test_link_is_relative_and_a_real_folder_is_kept_aside(tmp_path: Path) -> None:
    store, run = tmp_path / "store", tmp_path / "sweep" / "runs" / "p" / "seed=0"
    (store / "abc").mkdir(parents=True)
    (run / "teacher").mkdir(parents=True)
    (run / "teacher" / "old.txt").write_text("old")
    link_stage(run, "teacher", store / "abc")
    assert os.readlink(run / "teacher") == "../../../../store/abc"
    assert (run / "teacher.previous" / "old.txt").read_text() == "old"
    (store / "def").mkdir()
    link_stage(run, "teacher", store / "def")
    assert os.readlink(run / "teacher") == "../../../../store/def"


def test_a_second_holder_waits_for_the_lock(tmp_path: Path, caplog) -> None:
    log = logging.getLogger("ssl_kd.test_store")
    events: list[str] = []
    held = threading.Event()

    def first() -> None:
        with stage_lock(tmp_path, "fp", "teacher", log):
            held.set()
            time.sleep(0.3)
            events.append("first released")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait()
    with caplog.at_level(logging.INFO, logger="ssl_kd.test_store"), stage_lock(tmp_path, "fp", "teacher", log):
        events.append("second acquired")
    thread.join()
    assert events == ["first released", "second acquired"]
    assert "stage teacher: waiting for another run computing it" in caplog.text


def test_two_sweeps_sharing_a_store_at_once_compute_the_shared_stage_once(tmp_path: Path) -> None:
    """Two ``ssl-kd sweep`` processes started together on one store: one computes the teacher, the other waits on
    its lock and then links and skips it."""
    pipeline = write_pipeline(tmp_path / "one.yaml", ONE_STAGE)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    store = tmp_path / "store"
    commands = [
        [
            sys.executable,
            "-m",
            "ssl_kd",
            "sweep",
            str(pipeline),
            "--sweep-dir",
            str(tmp_path / name),
            "--store",
            str(store),
        ]
        for name in ("a", "b")
    ]
    processes = [
        subprocess.Popen(c, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands
    ]
    outputs = [process.communicate()[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    (folder,) = [p for p in store.iterdir() if p.is_dir()]
    assert (folder / "log.txt").read_text().count("stage teacher: running") == 1
    logs = [(tmp_path / name / "runs" / "default" / "seed=0" / "sweep.log").read_text() for name in ("a", "b")]
    assert sum("stage teacher: running" in log for log in logs) == 1
    assert sum("stage teacher: skipped" in log for log in logs) == 1
    runs = [tmp_path / name / "runs" / "default" / "seed=0" for name in ("a", "b")]
    assert [(run / "teacher").resolve() for run in runs] == [folder.resolve()] * 2
    assert (runs[0] / "results.json").read_text() == (runs[1] / "results.json").read_text()
