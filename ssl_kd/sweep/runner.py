"""Run a sweep: every run an ordinary ``ssl-kd run`` (same checks, skip / resume / rerun) in its own folder
``SWEEP_DIR/runs/POINT/seed=S``, its stages in a store shared through fingerprints (``SWEEP_DIR/store`` unless
``--store``).

Runs go to ``--jobs N`` parallel processes, each with ``max(1, threads // N)`` CPU threads (``threads``:
``OMP_NUM_THREADS`` if set, else the usable cores) and, with several GPUs, one GPU each in turn. Each run's output
goes to ``RUN/sweep.log``; a run dies with the sweep (Linux), and rerunning the same command continues: complete runs
are recognised without starting a process, the others skip or resume their stages as ``ssl-kd run`` does. A failed
run is recorded with its exit code and the tail of its log; the others go on.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_kd.config.loader import Pipeline, load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.scheduler import Scheduler, fingerprints
from ssl_kd.sweep.grid import GridAxis, SweepRun, expand

RUNS_DIR = "runs"
STORE_DIR = "store"
RUN_LOG = "sweep.log"
TAIL_LINES = 20
PR_SET_PDEATHSIG = 1


@dataclass
class Sweep:
    """A sweep's settings and its runs, each with its validated pipeline.

    Attributes:
        pipeline_file: the pipeline YAML file.
        overrides: ``key=value`` overrides of every run.
        axes: the ``--grid`` axes.
        seeds: the seed axis.
        sweep_dir: the sweep's folder.
        store: the stage store.
        pipeline: the pipeline with ``overrides`` applied.
        runs: the expanded runs.
        pipelines: each run's validated pipeline, by run name.
    """

    pipeline_file: Path
    overrides: list[str]
    axes: list[GridAxis]
    seeds: list[int]
    sweep_dir: Path
    store: Path
    pipeline: Pipeline
    runs: list[SweepRun]
    pipelines: dict[str, Pipeline] = field(default_factory=dict)

    def run_dir(self, run: SweepRun) -> Path:
        """The folder of ``run``."""
        return self.sweep_dir / RUNS_DIR / run.name

    def scheduler(self, run: SweepRun) -> Scheduler:
        """The scheduler ``run`` is run with (for plans; runs go to their own process)."""
        return Scheduler(self.pipelines[run.name], self.run_dir(run), store=self.store)


def plan_sweep(
    pipeline_file: Path,
    overrides: Sequence[str],
    axes: Sequence[GridAxis],
    seeds: Sequence[int],
    sweep_dir: Path | None = None,
    store: Path | None = None,
) -> Sweep:
    """Expand and validate every run of a sweep (a bad config fails here, naming the run, before anything runs).

    Args:
        pipeline_file: the pipeline YAML file.
        overrides: ``key=value`` overrides of every run.
        axes: the ``--grid`` axes.
        seeds: the seed axis.
        sweep_dir: the sweep's folder (default ``runs/sweeps/<pipeline name>``).
        store: the stage store (default ``SWEEP_DIR/store``).
    """
    pipeline = load_pipeline(pipeline_file, overrides)
    sweep_dir = Path(sweep_dir) if sweep_dir is not None else Path("runs") / "sweeps" / pipeline.name
    runs = expand(pipeline, axes, list(seeds), list(overrides))
    sweep = Sweep(
        Path(pipeline_file),
        list(overrides),
        list(axes),
        list(seeds),
        sweep_dir,
        Path(store) if store is not None else sweep_dir / STORE_DIR,
        pipeline,
        runs,
    )
    for run in runs:
        try:
            sweep.pipelines[run.name] = load_pipeline(pipeline_file, run.overrides)
        except ConfigError as err:
            raise ConfigError(f"sweep run {run.name}: {err}") from None
    return sweep


def shared_stages(sweep: Sweep) -> dict[str, list[str]]:
    """Stage name -> the runs that share its store folder with another run, as ``"fingerprint: run, run, ..."``
    lines (stages computed once for several runs)."""
    users: dict[tuple[str, str], list[str]] = {}
    for run in sweep.runs:
        for stage, fingerprint in fingerprints(sweep.pipelines[run.name]).items():
            users.setdefault((stage, fingerprint), []).append(run.name)
    shared: dict[str, list[str]] = {}
    for (stage, fingerprint), names in users.items():
        if len(names) > 1:
            shared.setdefault(stage, []).append(f"{fingerprint}: {len(names)} runs ({', '.join(names)})")
    return shared


def run_command(sweep: Sweep, run: SweepRun) -> list[str]:
    """The ``ssl-kd run`` command of ``run`` (this interpreter)."""
    return [
        sys.executable,
        "-m",
        "ssl_kd",
        "run",
        str(sweep.pipeline_file),
        *run.overrides,
        "--run-dir",
        str(sweep.run_dir(run)),
        "--store",
        str(sweep.store),
        "--no-report",
    ]


def thread_budget() -> int:
    """CPU threads the sweep may use: ``OMP_NUM_THREADS`` when set, else the usable cores."""
    text = os.environ.get("OMP_NUM_THREADS", "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The GPUs a run may be given (``CUDA_VISIBLE_DEVICES`` entries, else indices); empty without CUDA."""
    import torch

    count = torch.cuda.device_count()
    listed = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(index) for index in range(count)]


def run_env(slot: int, jobs: int, gpus: Sequence[str]) -> dict[str, str]:
    """The environment of the run in job slot ``slot`` of ``jobs``: its share of threads and, with several GPUs, one."""
    env = dict(os.environ)
    threads = str(max(1, thread_budget() // jobs))
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = threads
    if len(gpus) > 1:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    return env


def _die_with_parent() -> None:
    """In the child before exec: receive SIGKILL when the sweep process dies (Linux ``prctl``)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_record(sweep: Sweep, run: SweepRun, returncode: int | None) -> dict[str, Any]:
    """What ``sweep.json`` keeps of a run: status (``complete``, ``failed``, or ``incomplete`` when not run: None
    ``returncode``), exit code, log (and its tail on failure), results and the stages' fingerprints and seconds
    (from their store folders)."""
    run_dir = sweep.run_dir(run)
    scheduler = sweep.scheduler(run)
    complete = returncode == 0 and (run_dir / "results.json").is_file()
    status = "complete" if complete else "incomplete" if returncode is None else "failed"
    stages = {}
    for name, fingerprint in scheduler.fingerprints.items():
        state = _read_json(scheduler.stage_dir(name) / "state.json")
        stages[name] = {"fingerprint": fingerprint, "seconds": state.get("seconds")}
    return {
        "name": run.name,
        "point": run.point,
        "seed": run.seed,
        "overrides": list(run.overrides),
        "status": status,
        "returncode": returncode,
        "log": str(run_dir / RUN_LOG),
        "log_tail": _tail(run_dir / RUN_LOG) if status == "failed" else "",
        "results": _read_json(run_dir / "results.json") if complete else {},
        "stages": stages,
    }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def is_complete(sweep: Sweep, run: SweepRun) -> bool:
    """Whether every stage of ``run`` would be skipped and its ``results.json`` is there (no process needed)."""
    scheduler = sweep.scheduler(run)
    links = all((sweep.run_dir(run) / name).is_symlink() for name in scheduler.fingerprints)
    plan = scheduler.plan()
    return links and set(plan.values()) == {"skip"} and (sweep.run_dir(run) / "results.json").is_file()


def execute(
    sweep: Sweep, jobs: int = 1, on_done: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Run every incomplete run of ``sweep`` in ``jobs`` parallel processes; return the run records in sweep order.

    Args:
        sweep: the planned sweep.
        jobs: parallel processes.
        on_done: called with each run's record as it finishes (progress, messages).
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    gpus = visible_gpus()
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)
    preexec = _die_with_parent if sys.platform.startswith("linux") else None

    def one(run: SweepRun) -> dict[str, Any]:
        if is_complete(sweep, run):
            record = run_record(sweep, run, 0)
        else:
            slot = slots.get()
            try:
                run_dir = sweep.run_dir(run)
                run_dir.mkdir(parents=True, exist_ok=True)
                with (run_dir / RUN_LOG).open("a") as log:
                    returncode = subprocess.call(
                        run_command(sweep, run),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=run_env(slot, jobs, gpus),
                        preexec_fn=preexec,
                    )
            finally:
                slots.put(slot)
            record = run_record(sweep, run, returncode)
        if on_done is not None:
            on_done(record)
        return record

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, sweep.runs))


def existing_records(sweep: Sweep) -> list[dict[str, Any]]:
    """The records of the runs as they are on disk, running nothing (``--report-only``)."""
    return [run_record(sweep, run, 0 if is_complete(sweep, run) else None) for run in sweep.runs]


def summary(sweep: Sweep, records: Sequence[dict[str, Any]], baseline: str | None) -> dict[str, Any]:
    """The part of ``sweep.json`` besides the table: what was swept and every run's record."""
    return {
        "pipeline": str(sweep.pipeline_file),
        "name": sweep.pipeline.name,
        "sweep_dir": str(sweep.sweep_dir),
        "store": str(sweep.store),
        "seeds": sweep.seeds,
        "grid": {axis.key: list(axis.texts) for axis in sweep.axes},
        "overrides": sweep.overrides,
        "seed_keys": sweep.pipeline.sweep.seed_keys,
        "fixed_seed_stages": sweep.pipeline.sweep.fixed_seed_stages,
        "baseline": baseline,
        "runs": list(records),
        "failed": [record["name"] for record in records if record["status"] == "failed"],
    }
