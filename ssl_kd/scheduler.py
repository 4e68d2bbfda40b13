"""The stage scheduler: runs a pipeline's stages in order, skipping, resuming or rerunning each.

Each stage has a fingerprint: a hash of its validated config (minus settings that do not change results, such as
the device or progress bars) and of the fingerprints of the stages it takes outputs from. In ``RUN_DIR/<stage>/``:

- ``state.json``: ``running`` or ``complete``, with the fingerprint it was run under;
- ``config.yaml``: the exact config it ran with; ``log.txt``; ``metrics.json`` when complete;
- whatever the stage writes (``model.pt``, ``checkpoints/last.pt``, ``features/``, ``tb/`` ...).

On a rerun a stage is *skipped* when complete under the same fingerprint, *resumed* from its last checkpoint when
it was interrupted under the same fingerprint, and otherwise *run* afresh (its previous folder is kept as
``<stage>.previous``). A changed stage changes the fingerprints of the stages that use it, so they rerun too.
``from_stage`` forces that stage and every later one to run afresh.

With a ``store`` (``ssl-kd sweep``; ``ssl-kd run --store``) the stage folder is ``STORE/<fingerprint>/`` instead and
``RUN_DIR/<stage>`` a relative symlink to it (:mod:`ssl_kd.sweep.store`): a stage with the same fingerprint in
several runs is computed once. Each stage is decided, run or skipped under the lock of its fingerprint.

Under ``torchrun`` every rank runs the scheduler: rank 0 decides what happens to each stage and broadcasts it,
rank 0 alone writes the run's files, and the ranks meet at a barrier before and after each stage. Stage kinds
with ``distributed = False`` (export) run on rank 0 only; every rank ends a stage with rank 0's metrics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from ssl_kd.config.loader import Pipeline
from ssl_kd.config.schema import EngineConfig, StageConfig
from ssl_kd.engine import distributed
from ssl_kd.engine.checkpoint import atomic_write_json
from ssl_kd.engine.domain import headline_metrics as domain_headline_metrics
from ssl_kd.errors import ConfigError, did_you_mean
from ssl_kd.registry import STAGES
from ssl_kd.stages.base import StageContext
from ssl_kd.sweep.store import link_stage, stage_lock, stage_path

LOGGER_NAME = "ssl_kd"
NON_SEMANTIC_DATA = ("num_workers",)


@dataclass
class StageOutcome:
    """How a stage went in this run."""

    name: str
    kind: str
    action: str  # "skipped", "resumed" or "ran"
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


def semantic_config(stage: StageConfig) -> dict[str, Any]:
    """The part of a stage's config that determines its results."""
    data = stage.model_dump(mode="json", by_alias=True)
    if data.get("early_stopping", False) is None:  # unset: the fingerprints of runs from before the option stay valid
        del data["early_stopping"]
    engine = data.get("engine")
    if isinstance(engine, dict):
        for key in EngineConfig.NON_SEMANTIC:
            engine.pop(key, None)
    if isinstance(data.get("data"), dict):
        for key in NON_SEMANTIC_DATA:
            data["data"].pop(key, None)
    return data


def fingerprints(pipeline: Pipeline) -> dict[str, str]:
    """Each stage's fingerprint: hash of its semantic config and of the fingerprints of its inputs."""
    result: dict[str, str] = {}
    for stage in pipeline.stages:
        inputs = {name: result[name] for name in sorted(set(stage.references().values()))}
        payload = json.dumps({"config": semantic_config(stage), "inputs": inputs}, sort_keys=True)
        result[stage.name] = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return result


class Scheduler:
    """Runs ``pipeline`` in ``run_dir``.

    Args:
        pipeline: a validated pipeline.
        run_dir: where stage folders and ``results.json`` go.
        from_stage: force this stage and all later ones to rerun from scratch.
        store: a stage store shared by runs (None: stage folders live in ``run_dir``).
    """

    def __init__(
        self, pipeline: Pipeline, run_dir: Path, from_stage: str | None = None, store: Path | None = None
    ) -> None:
        if from_stage is not None and from_stage not in pipeline.stage_names:
            raise ConfigError(
                f"--from {from_stage!r}: no such stage{did_you_mean(from_stage, pipeline.stage_names)}; "
                f"stages: {', '.join(pipeline.stage_names)}"
            )
        self.pipeline = pipeline
        self.run_dir = Path(run_dir)
        self.from_index = pipeline.stage_names.index(from_stage) if from_stage else None
        self.fingerprints = fingerprints(pipeline)
        self.store = Path(store) if store is not None else None
        self.log = logging.getLogger(LOGGER_NAME)

    def stage_dir(self, name: str) -> Path:
        """Where stage ``name`` writes: ``run_dir/name``, or its store folder with a store."""
        return self.run_dir / name if self.store is None else stage_path(self.store, self.fingerprints[name])

    def plan(self) -> dict[str, str]:
        """What would happen to each stage: ``skip``, ``resume`` or ``run``."""
        return {stage.name: self._decide(index, stage) for index, stage in enumerate(self.pipeline.stages)}

    def run(self) -> list[StageOutcome]:
        """Run the pipeline; write ``results.json`` and print the results table (rank 0)."""
        main = distributed.is_main()
        if main:
            self._write_pipeline()
        outcomes = [self._run_stage(index, stage) for index, stage in enumerate(self.pipeline.stages)]
        if main:
            results = {outcome.name: outcome.metrics for outcome in outcomes}
            atomic_write_json(self.run_dir / "results.json", results)
            print_results(outcomes, self.run_dir)
        return outcomes

    def _write_pipeline(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "pipeline.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": self.pipeline.name,
                    "stages": [s.model_dump(mode="json", by_alias=True) for s in self.pipeline.stages],
                },
                sort_keys=False,
            )
        )

    def _decide(self, index: int, stage: StageConfig) -> str:
        if self.from_index is not None and index >= self.from_index:
            return "run"
        state = _read_json(self.stage_dir(stage.name) / "state.json")
        if state.get("fingerprint") != self.fingerprints[stage.name]:
            return "run"
        if state.get("status") == "complete" and (self.stage_dir(stage.name) / "metrics.json").is_file():
            return "skip"
        return "resume"

    def _lock(self, stage: StageConfig) -> AbstractContextManager[None]:
        """The store lock of ``stage`` (rank 0 holds it; the other ranks follow rank 0's broadcasts)."""
        if self.store is None or not distributed.is_main():
            return nullcontext()
        return stage_lock(self.store, self.fingerprints[stage.name], stage.name, self.log)

    def _run_stage(self, index: int, stage: StageConfig) -> StageOutcome:
        with self._lock(stage):
            if self.store is not None and distributed.is_main():
                link_stage(self.run_dir, stage.name, self.stage_dir(stage.name))
            return self._decide_and_run(index, stage)

    def _decide_and_run(self, index: int, stage: StageConfig) -> StageOutcome:
        stage_dir = self.stage_dir(stage.name)
        decision = distributed.broadcast_object(self._decide(index, stage))
        if decision == "skip":
            self.log.info("stage %s: skipped (complete, config unchanged)", stage.name)
            metrics = _read_json(stage_dir / "metrics.json")
            return StageOutcome(stage.name, stage.kind, "skipped", 0.0, metrics)
        fingerprint = self.fingerprints[stage.name]
        main = distributed.is_main()
        if main:
            self._prepare_stage_dir(stage, decision, fingerprint)
        distributed.barrier()
        handler = logging.FileHandler(stage_dir / "log.txt") if main else logging.NullHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.log.addHandler(handler)
        try:
            verb = "resuming" if decision == "resume" else "running"
            self.log.info("stage %s: %s (%s)", stage.name, verb, stage.kind)
            start = time.perf_counter()
            ctx = StageContext(self.run_dir, stage_dir, fingerprint, self.log)
            kind = STAGES.get(stage.kind)
            metrics = distributed.broadcast_object(kind(stage, ctx).run() if main or kind.distributed else {})
            seconds = time.perf_counter() - start
            if main:
                atomic_write_json(stage_dir / "metrics.json", metrics)
                atomic_write_json(
                    stage_dir / "state.json",
                    {
                        "status": "complete",
                        "fingerprint": fingerprint,
                        "finished": _now(),
                        "seconds": round(seconds, 2),
                    },
                )
            self.log.info("stage %s: done in %.1f s", stage.name, seconds)
        finally:
            self.log.removeHandler(handler)
            handler.close()
        distributed.barrier()
        action = "resumed" if decision == "resume" else "ran"
        return StageOutcome(stage.name, stage.kind, action, seconds, metrics)

    def _prepare_stage_dir(self, stage: StageConfig, decision: str, fingerprint: str) -> None:
        """Move a stale folder aside (empty a store folder), then write the stage's config and ``running`` state."""
        stage_dir = self.stage_dir(stage.name)
        if decision == "run" and self.store is not None:
            shutil.rmtree(stage_dir, ignore_errors=True)
        elif decision == "run" and stage_dir.exists():
            previous = self.run_dir / f"{stage.name}.previous"
            shutil.rmtree(previous, ignore_errors=True)
            stage_dir.rename(previous)
        stage_dir.mkdir(parents=True, exist_ok=True)
        (stage_dir / "config.yaml").write_text(
            yaml.safe_dump(stage.model_dump(mode="json", by_alias=True), sort_keys=False)
        )
        atomic_write_json(
            stage_dir / "state.json", {"status": "running", "fingerprint": fingerprint, "started": _now()}
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def headline_metrics() -> dict[str, str]:
    """Metric key -> column title: every domain's headline metrics, then every stage kind's (``probe``: the
    linear, 5-shot and kNN accuracies; ``train``: skipped samples)."""
    merged = domain_headline_metrics()
    for _, kind in STAGES.items():
        merged |= kind.headline_metrics
    return merged


def print_results(outcomes: list[StageOutcome], run_dir: Path) -> None:
    """The end-of-run table: one row per stage with what happened and its headline metrics."""
    table = Table(title=f"results: {run_dir / 'results.json'}")
    for column in ("stage", "status", "time"):
        table.add_column(column)
    titles = headline_metrics()
    shown = [m for m in titles if any(m in o.metrics for o in outcomes)]
    for metric in shown:
        table.add_column(titles[metric], justify="right")
    for outcome in outcomes:
        values = [_format(outcome.metrics.get(metric)) for metric in shown]
        table.add_row(outcome.name, outcome.action, f"{outcome.seconds:.0f} s", *values)
    Console(file=sys.stdout, width=max(100, Console().width)).print(table)


def _format(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)
