"""Overhead benchmarks: what the library's machinery costs next to hand-written PyTorch (issue 7, part 4).

Each section is one function returning markdown (a caption naming the machine, then a table), registered in
``SECTIONS`` in the order the tables are printed:

- ``pipeline``: a training stage (the real ``Trainer``, built as ``ssl_kd/stages/train.py`` builds it) against a
  bare hand-written loop with the same model, batch, data, augmentation and optimiser, interleaved epoch by epoch
  in one process, plus a breakdown of what the engine adds per step and per epoch;
- ``probe``: the linear probe on cached features against the usual frozen-backbone probe that recomputes
  features every epoch: time and test top-1 of both;
- ``kd_cache``: Hinton KD with the teacher's logits cached once per sample against the live teacher: time per epoch;
- ``knn``: kNN with the faiss and the torch backend on synthetic 128-d features: time and equality;
- ``ddp``: ``pipelines/kd_digits.yaml`` on 2 gloo processes against 1 process on the same cores (``ssl-kd run
  --nproc``): samples/s and the per-epoch loss curves.

Run from the repository root (timings on shared cores: ``OMP_WAIT_POLICY=PASSIVE`` keeps idle OpenMP threads
from spinning)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.overhead
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/overhead.py --sections knn --quick

The tables are printed and written to ``benchmarks/results/overhead.md`` (``--quick``, a smoke-sized run:
``overhead_quick.md``). Stage folders, checkpoints and a trained probe backbone go to ``runs/overhead/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from benchmarks.machine import hardware
from ssl_kd.config import Pipeline, load_pipeline
from ssl_kd.config.schema import DataConfig
from ssl_kd.data import eval_loader, eval_transform, load_splits, train_loader, train_transform
from ssl_kd.data.base import ImageSplits
from ssl_kd.engine import Trainer, distributed, resolve_device
from ssl_kd.engine.checkpoint import atomic_save, atomic_write_json
from ssl_kd.engine.device import seed_step
from ssl_kd.engine.optim import lr_factor
from ssl_kd.evaluation.features import extract_features
from ssl_kd.evaluation.knn import knn_neighbors, knn_predict
from ssl_kd.evaluation.linear_probe import linear_probe
from ssl_kd.methods.supervised import SupervisedConfig
from ssl_kd.models import BackboneModel, build_model
from ssl_kd.scheduler import Scheduler
from ssl_kd.stages.base import MODEL_FILE, StageContext, load_stage_model
from ssl_kd.stages.train import build_training

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "kd_digits.yaml"
RESULTS = ROOT / "benchmarks" / "results"
DISTILLED = ROOT / "runs" / "kd_digits" / "distill"
ARCHS = (("MobileNetV2", "mobilenet_v2"), ("ResNet-18", "resnet18"))
TARGET_PIPELINE_RATIO = 0.95
TARGET_PROBE_SPEEDUP = 10.0
NOISE = 3.0  # spread of the synthetic kNN clusters: top-1 about 0.96 at 100k rows
LOG = logging.getLogger("ssl_kd.benchmarks.overhead")


@dataclass(frozen=True)
class Settings:
    """What every section gets: smoke-sized or not, and a scratch folder for stage outputs."""

    quick: bool
    run_dir: Path


Section = Callable[[Settings], str]


# ----------------------------------------------------------------------------------------------- shared helpers


def machine() -> str:
    """One sentence naming the machine, the torch build and thread count, and the current load."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    return (
        f"Machine: {hardware()}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
        f"1-min load average {load:.2f} when the section started (the cores are shared with other jobs)."
    )


def markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table with ``header`` and one line per row (cells formatted with ``str``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so that wall-clock timings on CUDA are complete (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], calls: int = 500) -> float:
    """Median over 5 rounds of the mean wall time per call of ``fn`` (after one warm-up call)."""
    fn()
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(max(1, calls // 5)):
            fn()
        rounds.append((time.perf_counter() - start) / max(1, calls // 5))
    return statistics.median(rounds)


# ---------------------------------------------------------------------------------------------------- pipeline


def stage_config(arch: str, epochs: int, quick: bool) -> SupervisedConfig:
    """The ``teacher`` stage of ``kd_digits.yaml`` with ``arch``, ``epochs``, no TensorBoard and no progress bar.

    ``eval_every=1`` makes the engine call its ``evaluate`` callback after every epoch: the benchmark runs the
    bare loop's epochs from that callback (no test evaluation happens).
    """
    overrides = [
        f"teacher.model.arch={arch}",
        f"teacher.epochs={epochs}",
        "engine.tensorboard=false",
        "engine.progress=false",
        "engine.eval_every=1",
    ]
    if quick:
        overrides.append("teacher.data.train_per_class=20")
    stage = load_pipeline(PIPELINE, overrides).stage("teacher")
    assert isinstance(stage, SupervisedConfig)
    return stage


class BareLoop:
    """A hand-written training loop: ``build_model``, SGD with momentum, cross-entropy, no bookkeeping.

    It reads its own copy of the stage's loader (same dataset, batch, augmentation and seeded sampler).
    """

    def __init__(self, cfg: SupervisedConfig, splits: ImageSplits, device: torch.device) -> None:
        assert cfg.model.arch is not None
        self.device = device
        self.model = build_model(cfg.model.arch, splits.num_classes, cfg.model.options).to(device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum, weight_decay=cfg.optim.weight_decay
        )
        augment = train_transform(cfg.data.image_size, splits.mean, splits.std, cfg.data.augment)
        self.loader, self.sampler = train_loader(splits.train, augment, cfg.data, cfg.engine.seed)
        self.epochs = 0

    def epoch(self) -> float:
        """Train one epoch; return its wall time in seconds."""
        self.sampler.set_epoch(self.epochs)
        self.epochs += 1
        self.model.train()
        start = time.perf_counter()
        for batch in self.loader:  # Batch((images, labels), sample ids, skipped names)
            images, labels = (tensor.to(self.device) for tensor in batch.inputs)
            loss = F.cross_entropy(self.model(images), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        synchronize(self.device)
        return time.perf_counter() - start


@dataclass
class Interleaver:
    """The engine's per-epoch ``evaluate`` callback: runs one bare epoch, and times the engine epoch before it.

    An engine epoch is timed from the end of one callback to the start of the next: the steps with their data
    loading, the loss syncs, and the end-of-epoch ``history.json`` and checkpoint writes of the epoch before.
    """

    bare: BareLoop | None = None
    bare_seconds: list[float] = field(default_factory=list)
    engine_seconds: list[float] = field(default_factory=list)
    mark: float = 0.0

    def start(self) -> None:
        self.mark = time.perf_counter()

    def __call__(self) -> dict[str, float]:
        synchronize(self.bare.device)
        self.engine_seconds.append(time.perf_counter() - self.mark)
        self.bare_seconds.append(self.bare.epoch())
        self.mark = time.perf_counter()
        return {}


@dataclass
class PipelineRun:
    """Timed epochs of one architecture (warm-up epoch dropped) and the trainer, for the cost breakdown."""

    bare_seconds: list[float]
    engine_seconds: list[float]
    samples_per_epoch: int
    trainer: Trainer

    def rate(self, seconds: list[float]) -> float:
        return self.samples_per_epoch / statistics.median(seconds)

    @property
    def ratio(self) -> float:
        return self.rate(self.engine_seconds) / self.rate(self.bare_seconds)

    @property
    def pair_ratios(self) -> list[float]:
        return [b / e for b, e in zip(self.bare_seconds, self.engine_seconds, strict=True)]


def run_pipeline(arch: str, repeats: int, settings: Settings) -> PipelineRun:
    """Train ``1 + repeats`` engine epochs, each followed by a bare epoch, and time both."""
    cfg = stage_config(arch, 1 + repeats, settings.quick)
    stage_dir = settings.run_dir / f"pipeline_{arch}"
    shutil.rmtree(stage_dir, ignore_errors=True)  # a leftover checkpoint would be resumed
    stage_dir.mkdir(parents=True)
    ctx = StageContext(settings.run_dir, stage_dir, "overhead", LOG)
    interleaver = Interleaver()
    training = build_training(cfg, ctx, monitor=interleaver)  # the train stage's own assembly
    interleaver.bare = BareLoop(cfg, training.data.splits, training.placement.device)
    trainer, sampler = training.trainer, training.trainer.sampler
    interleaver.start()
    trainer.fit()
    samples = sampler.batches_per_epoch * sampler.batch_size
    return PipelineRun(interleaver.bare_seconds[1:], interleaver.engine_seconds[1:], samples, trainer)


@dataclass
class Cost:
    """One thing the engine does that the bare loop does not: seconds per occurrence, occurrences per epoch."""

    what: str
    seconds: float
    per_epoch: float


def step_costs(trainer: Trainer) -> list[Cost]:
    """Micro-timings of the engine's per-step and per-flush extras, mirroring ``Trainer._train_step``."""
    steps = trainer.steps_per_epoch
    cfg = trainer.cfg
    terms = {"ce": torch.tensor(2.3, device=trainer.device)}
    window: dict[str, Tensor] = {}

    def set_lr() -> None:
        factor = lr_factor(7, trainer.total_steps, steps, cfg.optim)
        for group, base_lr in zip(trainer.optimizer.param_groups, trainer.base_lrs, strict=True):
            group["lr"] = base_lr * factor

    def loss_arithmetic() -> None:
        total = torch.zeros((), device=trainer.device)
        loss = torch.stack([value.float() for value in terms.values()]).sum()
        total = total + loss.detach()
        for name, value in {"loss": total, **terms}.items():
            window[name] = window.get(name, 0) + value.detach().float()

    def scaler() -> None:
        trainer.scaler.scale(terms["ce"])
        trainer.scaler.update()

    def flush() -> None:
        sums = distributed.all_reduce_mean(torch.stack([window[name] for name in window])).tolist()
        all(math.isfinite(value) for value in sums)

    def set_sample_ids() -> None:
        trainer.method.sample_ids = ids

    bar = tqdm(total=1, disable=True)
    ids = torch.arange(trainer.sampler.batch_size)
    return [
        Cost("`seed_step(...)` (per-step seed of the CPU generator)", seconds_per_call(seed_all), steps),
        Cost("lr factor + setting the lr of the param groups", seconds_per_call(set_lr), steps),
        Cost("`method.sample_ids = ...` (`nn.Module.__setattr__`)", seconds_per_call(set_sample_ids), steps),
        Cost("loss stacking, running total, window sums", seconds_per_call(loss_arithmetic), steps),
        Cost("extra `nn.Module` call (the `MethodStep` wrapper; timed on `nn.Identity`)", call_cost(), steps),
        Cost("disabled `GradScaler`: `scale` + `update`", seconds_per_call(scaler), steps),
        Cost("disabled progress bar `update`", seconds_per_call(lambda: bar.update(0)), steps),
        Cost(
            f"loss sync + finite check (every {cfg.engine.log_every} steps)", seconds_per_call(flush), flushes(trainer)
        ),
        Cost(
            "for comparison: `torch.manual_seed` (every backend; the engine's per-step seed before)",
            seconds_per_call(lambda: torch.manual_seed(12345)),
            0,
        ),
    ]


def seed_all() -> None:
    """What the engine does at the start of every step (on the CPU)."""
    seed_step(0, 12345, torch.device("cpu"))


def call_cost() -> float:
    """Seconds per call of a trivial module (the price of one more ``nn.Module.__call__``)."""
    module, x = nn.Identity(), torch.zeros(1)
    return seconds_per_call(lambda: module(x))


def flushes(trainer: Trainer) -> int:
    """Loss syncs per epoch: every ``log_every`` steps and at the end of the epoch."""
    return math.ceil(trainer.steps_per_epoch / trainer.cfg.engine.log_every)


def epoch_costs(trainer: Trainer, scratch: Path) -> list[Cost]:
    """The end-of-epoch writes: ``history.json`` and the resumable checkpoint (both atomic, fsynced)."""
    state = {
        "method": trainer.method.trainable_state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "history": trainer.history,
        "rng": torch.get_rng_state(),
    }
    history = seconds_per_call(lambda: atomic_write_json(scratch / "history.json", trainer.history), 10)
    checkpoint = seconds_per_call(lambda: atomic_save(state, scratch / "last.pt"), 5)
    return [
        Cost("`history.json` write (atomic, fsync)", history, 1),
        Cost("checkpoint write: weights + SGD momentum (atomic, fsync)", checkpoint, 1),
    ]


def weights_mib(trainer: Trainer) -> float:
    """Size of the method's trainable weights in MiB (the checkpoint holds about twice that with momentum)."""
    return sum(t.numel() * t.element_size() for t in trainer.method.trainable_state_dict().values()) / 2**20


def cost_table(runs: dict[str, PipelineRun], scratch: Path) -> str:
    """Per-occurrence cost of each engine extra and, in brackets, its share of a median bare epoch."""
    costs = {label: step_costs(run.trainer) + epoch_costs(run.trainer, scratch) for label, run in runs.items()}
    bare = {label: statistics.median(run.bare_seconds) for label, run in runs.items()}
    rows = []
    for index, first in enumerate(costs[next(iter(runs))]):
        cells = []
        for label in runs:
            seconds = costs[label][index].seconds
            cells.append(f"{_duration(seconds)} ({100 * seconds * first.per_epoch / bare[label]:.2f} %)")
        rows.append([first.what, first.per_epoch or "-", *cells])
    sums = []
    for label, items in costs.items():
        total = sum(cost.seconds * cost.per_epoch for cost in items)
        ratio = bare[label] / (bare[label] + total)
        sums.append(f"{_duration(total)} ({100 * total / bare[label]:.2f} %), predicted ratio {ratio:.3f}")
    rows.append(["**sum per epoch**", "", *sums])
    rows.append(["weights in the checkpoint", "", *(f"{weights_mib(run.trainer):.0f} MiB" for run in runs.values())])
    return markdown(["engine extra", "times per epoch", *runs], rows)


def _duration(seconds: float) -> str:
    """Microseconds below 1 ms, milliseconds above."""
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def pipeline_section(settings: Settings) -> str:
    """Stage throughput vs a bare loop (interleaved epochs, medians), and the engine's per-step/epoch costs."""
    repeats = 1 if settings.quick else 8
    caption = machine()
    runs = {label: run_pipeline(arch, repeats, settings) for label, arch in ARCHS}
    rows = []
    for label, run in runs.items():
        pairs = run.pair_ratios
        rows.append(
            [
                label,
                f"{run.rate(run.bare_seconds):.1f}",
                f"{run.rate(run.engine_seconds):.1f}",
                f"**{run.ratio:.3f}**",
                f"{statistics.median(pairs):.3f} ({min(pairs):.3f} - {max(pairs):.3f})",
                "yes" if run.ratio >= TARGET_PIPELINE_RATIO else "**no**",
            ]
        )
    run = next(iter(runs.values()))
    steps, batch = run.trainer.steps_per_epoch, run.samples_per_epoch // run.trainer.steps_per_epoch
    method = (
        f"Training stage (the `teacher` stage of `pipelines/kd_digits.yaml`: supervised, SGD momentum 0.9, cosine lr, "
        f"batch {batch}, digits train split with the `light` augmentation, {steps} steps/epoch, "
        "`engine.tensorboard=false`, progress off, real `Trainer` built as `ssl_kd/stages/train.py` builds it) vs a "
        "bare loop (`build_model`, `torch.optim.SGD` with the same lr/momentum/weight decay, its own `train_loader` "
        "over the same data and augmentation). One process; epochs interleaved (engine, bare, engine, bare ...): "
        f"one warm-up epoch each, then {repeats} timed epoch(s) each; samples/s = samples per epoch / median epoch "
        "time. An engine epoch is timed between two calls of its per-epoch `evaluate` callback, which runs the bare "
        "epoch, so it includes data loading, loss syncs and the end-of-epoch `history.json` + checkpoint writes "
        "(test evaluation is not run). Ratio = engine / bare samples/s; per-pair ratios show the noise."
    )
    table = markdown(
        [
            "model",
            "bare samples/s",
            "pipeline samples/s",
            "ratio",
            "per-pair ratio: median (range)",
            f">= {TARGET_PIPELINE_RATIO}",
        ],
        rows,
    )
    breakdown = (
        "What the engine adds, each piece timed alone on the same trainer (median of 5 rounds), against the median "
        "bare epoch. Data loading (including the per-sample seeded augmentation) is shared by both loops and not "
        "listed."
    )
    costs = cost_table(runs, settings.run_dir / "pipeline_scratch")
    shutil.rmtree(settings.run_dir / "pipeline_scratch", ignore_errors=True)
    return f"{caption}\n\n{method}\n\n{table}\n\n{breakdown}\n\n{costs}"


# ------------------------------------------------------------------------------------------------------- probe


def probe_backbone(settings: Settings) -> tuple[BackboneModel, str]:
    """The KD student of ``runs/kd_digits`` if it exists, else a MobileNetV2 trained briefly with labels."""
    if (DISTILLED / MODEL_FILE).is_file():
        return load_stage_model(DISTILLED), f"the Hinton-KD MobileNetV2 student of `{DISTILLED.relative_to(ROOT)}`"
    epochs = 1 if settings.quick else 5
    overrides = ["teacher.model.arch=mobilenet_v2", f"teacher.epochs={epochs}", "engine.tensorboard=false"]
    overrides += ["engine.progress=false", "engine.eval_every=0"]
    stage = load_pipeline(PIPELINE, overrides).stage("teacher")
    run_dir = settings.run_dir / "backbone"
    Scheduler(Pipeline(name="overhead_backbone", path=PIPELINE, stages=[stage]), run_dir).run()
    return load_stage_model(run_dir / "teacher"), f"a MobileNetV2 trained {epochs} epochs with labels (`{run_dir}`)"


def cached_probe(
    model: BackboneModel, splits: ImageSplits, cfg: DataConfig, device: torch.device
) -> tuple[float, float, float]:
    """Extract unaugmented train/test features once, then run the library's linear probe.

    ``linear_probe`` tunes the weight decay over its default grid on a split of train and refits (L-BFGS).

    Returns:
        ``(extraction seconds, probe-fitting seconds, test top-1)``.
    """
    start = time.perf_counter()
    plain = eval_transform(cfg.image_size, splits.mean, splits.std)
    features = {}
    for split in ("train", "test"):
        loader = eval_loader(getattr(splits, split), plain, cfg)
        values, labels = extract_features(model, loader, device=device, progress=False)
        features[split] = values["features"], labels
    extracted = time.perf_counter()
    (train_x, train_y), (test_x, test_y) = features["train"], features["test"]
    top1 = linear_probe(train_x, train_y, test_x, test_y, splits.num_classes).top1
    synchronize(device)
    return extracted - start, time.perf_counter() - extracted, top1


def recompute_probe(
    model: BackboneModel, splits: ImageSplits, cfg: DataConfig, epochs: int, device: torch.device
) -> float:
    """The usual probe: a linear head trained with SGD for ``epochs`` over augmented batches; return test top-1.

    The backbone stays frozen in eval mode and recomputes the features of every batch of every epoch. The head is
    a non-affine BatchNorm (feature standardisation, as in MAE's linear probing) and a linear layer; SGD lr 0.1,
    momentum 0.9, cosine schedule over the epochs.
    """
    augment = train_transform(cfg.image_size, splits.mean, splits.std, "light")
    loader, sampler = train_loader(splits.train, augment, cfg, seed=0)
    dim = model.feature_dim
    head = nn.Sequential(nn.BatchNorm1d(dim, affine=False), nn.Linear(dim, splits.num_classes)).to(device)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    head.train()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            with torch.no_grad():
                features = model.forward_features(batch[0].to(device))
            loss = F.cross_entropy(head(features), batch[1].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        schedule.step()
    plain = eval_transform(cfg.image_size, splits.mean, splits.std)
    return head_top1(model, head.eval(), eval_loader(splits.test, plain, cfg), device)


@torch.no_grad()
def head_top1(model: BackboneModel, head: nn.Module, loader: Iterable, device: torch.device) -> float:
    """Top-1 of ``head`` on the frozen ``model``'s features over ``loader``."""
    correct, total = 0, 0
    for batch in loader:
        predictions = head(model.forward_features(batch[0].to(device))).argmax(dim=1).cpu()
        correct += int((predictions == batch[1]).sum())
        total += len(batch[1])
    return correct / total


def probe_section(settings: Settings) -> str:
    """Cached-feature linear probe vs the recompute-every-epoch probe: time, speed-up and test top-1."""
    epochs = 2 if settings.quick else 100
    caption = machine()
    model, source = probe_backbone(settings)
    device = resolve_device("auto")
    model.to(device).eval().requires_grad_(False)
    cfg = DataConfig(name="digits", image_size=32, batch_size=64)
    splits = load_splits(cfg)
    torch.manual_seed(0)
    first = cached_probe(model, splits, cfg, device)  # also warms the backbone up
    start = time.perf_counter()
    recompute_top1 = recompute_probe(model, splits, cfg, epochs, device)
    synchronize(device)
    recompute_s = time.perf_counter() - start
    second = cached_probe(model, splits, cfg, device)
    extract_s, fit_s = (first[0] + second[0]) / 2, (first[1] + second[1]) / 2
    cached_s = extract_s + fit_s
    speedup = recompute_s / cached_s
    gap = 100 * (second[2] - recompute_top1)
    break_even = math.ceil(TARGET_PROBE_SPEEDUP * cached_s / (recompute_s / epochs))
    cached_row = ["cached features + `linear_probe`", f"{cached_s:.1f}", f"{extract_s:.1f} + {fit_s:.1f}", "1.0"]
    recompute_row = [f"recompute features, SGD head, {epochs} epochs", f"{recompute_s:.1f}", "-"]
    rows = [[*cached_row, f"{second[2]:.4f}"], [*recompute_row, f"**{speedup:.1f}x**", f"{recompute_top1:.4f}"]]
    method = (
        f"Backbone: {source}, frozen, eval mode. Digits: {len(splits.train)} train / {len(splits.test)} test images, "
        "batch 64. Cached probe: one unaugmented feature extraction of train and test (`extract_features`, "
        "included in its time) and `ssl_kd.evaluation.linear_probe.linear_probe` (weight decay tuned on a split of "
        "train over the default 6-value grid, refit; full-batch L-BFGS); timed twice, before and after the other "
        f"probe, mean ({first[0] + first[1]:.1f} s / {second[0] + second[1]:.1f} s). Recompute probe: the common "
        f"practice of training a linear head for {epochs} epochs (MoCo's and solo-learn's linear evaluations use 100) "
        "over the training loader with the `light` augmentation, the frozen backbone recomputing every batch's "
        "features, then scoring the test split. Its time "
        f"grows linearly with the epochs ({recompute_s / epochs:.2f} s per epoch here): the cached probe is "
        f"{TARGET_PROBE_SPEEDUP:.0f}x faster from {break_even} recompute epochs on. Targets: speed-up >= "
        f"{TARGET_PROBE_SPEEDUP:.0f}x ({'met' if speedup >= TARGET_PROBE_SPEEDUP else '**not met**'}), top-1 within "
        f"1 point (difference {gap:+.2f} points: {'met' if abs(gap) <= 1 else '**not met**'})."
    )
    header = ["probe", "time (s)", "extraction + fitting (s)", "speed-up of the cached probe", "test top-1"]
    return f"{caption}\n\n{method}\n\n{markdown(header, rows)}"


# --------------------------------------------------------------------------------------------------------- kNN


def clustered_features(count: int, centres: Tensor, noise: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` L2-normalised points around random class ``centres`` (unit vectors), and their labels.

    ``x = normalise(centre[y] + noise * e / sqrt(d))`` with ``e ~ N(0, I)``; built in place to spare memory.
    """
    classes, dim = centres.shape
    labels = torch.randint(classes, (count,), generator=generator)
    points = torch.randn(count, dim, generator=generator).mul_(noise / math.sqrt(dim)).add_(centres[labels])
    return points.div_(points.norm(dim=1, keepdim=True)), labels


def time_backends(
    bank: Tensor, bank_y: Tensor, queries: Tensor, classes: int, k: int, repeats: int
) -> tuple[dict[str, float], dict[str, Tensor]]:
    """Median seconds of ``knn_predict`` per backend (calls interleaved) and each backend's predictions."""
    times: dict[str, list[float]] = {"faiss": [], "torch": []}
    predictions: dict[str, Tensor] = {}
    for _ in range(repeats):
        for backend, spent in times.items():
            start = time.perf_counter()
            predictions[backend] = knn_predict(bank, bank_y, queries, classes, k, 0.07, backend)
            spent.append(time.perf_counter() - start)
    return {backend: statistics.median(spent) for backend, spent in times.items()}, predictions


def neighbour_differences(bank: Tensor, queries: Tensor, k: int) -> tuple[int, int]:
    """Queries whose k nearest bank rows differ between the backends: as sets, and in order."""
    faiss_ids, torch_ids = (knn_neighbors(bank, queries, k, backend)[1] for backend in ("faiss", "torch"))
    other_set = (faiss_ids.sort(dim=1).values != torch_ids.sort(dim=1).values).any(dim=1)
    other_order = (faiss_ids != torch_ids).any(dim=1)
    return int(other_set.sum()), int(other_order.sum())


def knn_table(
    sizes: Sequence[int] = (10_000, 100_000, 1_000_000),
    queries: int = 1_000,
    repeats: int = 3,
    dim: int = 128,
    classes: int = 10,
    k: int = 20,
) -> str:
    """Time ``knn_predict`` with both backends on each bank size and compare their predictions.

    Args:
        sizes: Bank sizes; the banks are prefixes of one synthetic bank of the largest size.
        queries: Number of query features.
        repeats: Timed calls per backend and size (median reported).
        dim: Feature dimension.
        classes: Number of clusters (labels).
        k: Neighbours per query.

    Returns:
        A markdown table, one row per bank size.
    """
    generator = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(classes, dim, generator=generator), dim=1)
    bank, bank_y = clustered_features(max(sizes), centres, NOISE, generator)
    query_x, query_y = clustered_features(queries, centres, NOISE, generator)
    rows = []
    for size in sizes:
        seconds, predictions = time_backends(bank[:size], bank_y[:size], query_x, classes, k, repeats)
        other_set, other_order = neighbour_differences(bank[:size], query_x, k)
        mismatches = int((predictions["faiss"] != predictions["torch"]).sum())
        rows.append(
            [
                f"{size:,}",
                f"{seconds['faiss']:.3f}",
                f"{seconds['torch']:.3f}",
                f"**{seconds['torch'] / seconds['faiss']:.2f}x**",
                f"{mismatches} / {queries:,}",
                f"{other_set} / {other_order}",
                f"{(predictions['torch'] == query_y).float().mean().item():.3f}",
            ]
        )
    header = ["bank size", "faiss (s)", "torch (s)", "torch / faiss time", "prediction mismatches"]
    header += ["queries with other neighbour sets / other order", "top-1 (torch)"]
    return markdown(header, rows)


def knn_section(settings: Settings) -> str:
    """faiss vs torch kNN (``ssl_kd.evaluation.knn``) on synthetic features at 10k, 100k and 1M bank rows."""
    caption = machine()
    if importlib.util.find_spec("faiss") is None:
        return f"{caption}\n\nfaiss is not installed (`pip install faiss-cpu`): nothing to compare."
    import faiss

    queries = 1_000
    sizes = (10_000,) if settings.quick else (10_000, 100_000, 1_000_000)
    repeats = 1 if settings.quick else 3
    method = (
        f"`knn_predict` (k = 20, T = 0.07, 10 classes) for {queries:,} queries against banks of synthetic 128-d "
        f"L2-normalised features (10 Gaussian clusters around random unit centres, noise {NOISE}, seed 0; the smaller "
        "banks are prefixes of the 1M one). Each call includes the library's own normalisation and, for faiss, "
        f"building the exact `IndexFlatIP` ({faiss.omp_get_max_threads()} faiss OpenMP threads). Backends "
        f"interleaved, {repeats} call(s) each, median. The torch backend scores up to 1,024 queries at a time: at 1M "
        "rows that is a 1,000 x 1M float32 block (4 GB). Neighbour lists are compared with `knn_neighbors` (untimed): "
        "a different set means the k-th neighbour differs (near-tied similarities rounded differently by the two "
        "backends); a different order among equal sets does not change the weighted vote."
    )
    table = knn_table(sizes, queries, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
    return f"{caption}\n\n{method}\n\n{table}\n\nPeak resident memory of the process so far: {peak:.1f} GiB."


# ---------------------------------------------------------------------- scale: teacher cache and DDP (2 gloo)


def _history(stage_dir: Path) -> list[dict[str, Any]]:
    return json.loads((stage_dir / "history.json").read_text())


def _median_epoch_seconds(history: list[dict[str, Any]], skip: int = 1) -> float:
    """Median wall time of the epochs after the first ``skip`` (warm-up, cache fill)."""
    return statistics.median(record["epoch_seconds"] for record in history[skip:])


def kd_cache_section(run_dir: Path, epochs: int = 4, teacher: str = "resnet18", student: str = "mobilenet_v2") -> str:
    """Hinton KD with the teacher's logits cached once per sample vs the live teacher: time per epoch."""
    raw = {
        "name": "kd_cache_bench",
        "defaults": {
            "data": {"name": "digits", "batch_size": 64, "augment": "none"},
            "engine": {"tensorboard": False, "progress": False, "checkpoint_every": 10_000, "seed": 0},
            "optim": {"lr": 0.05},
        },
        "stages": [
            {"name": "teacher", "kind": "train", "method": "supervised", "model": {"arch": teacher}, "epochs": 1},
            *(
                {
                    "name": name,
                    "kind": "train",
                    "method": "hinton_kd",
                    "student": {"arch": student},
                    "teacher": {"from": "teacher"},
                    "teacher_cache": cached,
                    "epochs": epochs,
                }
                for name, cached in (("kd_live", False), ("kd_cached", True))
            ),
        ],
    }
    path = run_dir / "kd_cache.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw))
    Scheduler(load_pipeline(path), run_dir, from_stage="kd_live").run()
    live, cached = (_history(run_dir / name) for name in ("kd_live", "kd_cached"))
    images = live[0]["step"] * 64  # samples per epoch: steps x batch
    live_s, cached_s = _median_epoch_seconds(live), _median_epoch_seconds(cached)
    loss_gap = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(live, cached, strict=True))
    return "\n".join(
        [
            f"KD {teacher} -> {student}, digits train split (1,347 images), batch 64, data.augment none, "
            f"{epochs} epochs, torch threads {torch.get_num_threads()}; median of epochs 2..{epochs}.",
            "",
            "| teacher | first epoch (s) | later epochs (s, median) | samples/s |",
            "| --- | --- | --- | --- |",
            f"| live (inference mode) | {live[0]['epoch_seconds']:.2f} | {live_s:.2f} | {images / live_s:.0f} |",
            f"| cached (memory map, filled in epoch 1) | {cached[0]['epoch_seconds']:.2f} | {cached_s:.2f} "
            f"| {images / cached_s:.0f} |",
            "",
            f"Time per epoch, live / cached: **{live_s / cached_s:.2f}x**. Largest relative difference of the "
            f"per-epoch training loss between the two runs: {loss_gap:.1e} (the cached logits are the live ones).",
        ]
    )


# kd_digits.yaml on the full digits, 2 epochs per training stage.
DDP_OVERRIDES = [
    "data.eval_batch_size=500",
    "engine.eval_every=0",
    "engine.tensorboard=false",
    "engine.progress=false",
    "teacher.epochs=2",
    "distill.epochs=3",
    "probe.shots=[1]",
    "probe.draws=1",
]
VIT_OVERRIDES = [
    "teacher.model.arch=vit",
    "teacher.model.options={depth: 2}",
    "distill.student.arch=vit",
    "distill.student.options={depth: 1}",
]


def _run_nproc(run_dir: Path, nproc: int, cores: int, extra: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``ssl-kd run kd_digits.yaml`` with ``nproc`` processes sharing ``cores`` torch threads in total."""
    threads = str(max(1, cores // nproc))
    env = os.environ | {"OMP_NUM_THREADS": threads, "OMP_WAIT_POLICY": "PASSIVE"}
    command = [sys.executable, "-m", "ssl_kd", "run", str(PIPELINE)]
    command += [*DDP_OVERRIDES, *extra, "--run-dir", str(run_dir), "--from", "teacher", "--no-report", "-q"]
    command += ["--nproc", str(nproc)]
    subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    return {stage: _history(run_dir / stage) for stage in ("teacher", "distill")}


def ddp_section(run_dir: Path, cores: int = 2, quick: bool = False) -> str:
    """kd_digits.yaml on 1 process vs 2 gloo processes (same cores, same global batch): samples/s, loss curves."""
    rows = []
    size = ["data.train_per_class=20"] if quick else []
    for label, extra in (("ResNet-18 -> MobileNetV2 (BatchNorm)", []), ("ViT -> ViT (no BatchNorm)", VIT_OVERRIDES)):
        tag = "vit" if extra else "cnn"
        one = _run_nproc(run_dir / f"{tag}_1proc", 1, cores, [*extra, *size])
        two = _run_nproc(run_dir / f"{tag}_2proc", 2, cores, [*extra, *size])
        for stage in ("teacher", "distill"):
            images = one[stage][0]["step"] * 64  # samples per epoch: steps x the global batch
            speed = [images / _median_epoch_seconds(run[stage]) for run in (one, two)]
            gap = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(one[stage], two[stage], strict=True))
            rows.append(
                f"| {label} | {stage} | {speed[0]:.0f} | {speed[1]:.0f} | {speed[1] / speed[0]:.2f} | {gap:.1e} |"
            )
    return "\n".join(
        [
            f"`pipelines/kd_digits.yaml` (teacher 2 epochs, distill 3, global batch 64) with 1 process x {cores} "
            f"threads vs 2 gloo processes x {max(1, cores // 2)} thread(s) on the same {cores} cores; samples/s "
            "from the median epoch after the first.",
            "",
            "| models | stage | 1 process (samples/s) | 2 processes (samples/s) | ratio | max rel. loss difference |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "With BatchNorm each process normalises with its own half batch, so the runs are different "
            "optimisations (and the student also inherits a different teacher); without BatchNorm the 2-process run "
            "computes the single-process gradients (differences are float summation order).",
        ]
    )


def kd_cache(settings: Settings) -> str:
    """Hinton KD with cached teacher logits vs the live teacher (``overhead_scale.kd_cache_section``)."""
    return kd_cache_section(settings.run_dir / "kd_cache", epochs=2 if settings.quick else 5)


def ddp(settings: Settings) -> str:
    """2 gloo processes vs 1 process on the same cores (``overhead_scale.ddp_section``)."""
    return ddp_section(settings.run_dir / "ddp", quick=settings.quick)


SECTIONS: dict[str, Section] = {
    "pipeline": pipeline_section,
    "kd_cache": kd_cache,
    "probe": probe_section,
    "knn": knn_section,
    "ddp": ddp,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="smoke-sized run (minutes become seconds)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "overhead", help="scratch stage folders")
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: benchmarks/results/...)")
    args = parser.parse_args(argv)
    out = args.out or RESULTS / ("overhead_quick.md" if args.quick else "overhead.md")
    settings = Settings(quick=args.quick, run_dir=args.run_dir)
    start = time.perf_counter()
    parts = []
    for name in args.sections:
        section_start = time.perf_counter()
        body = SECTIONS[name](settings)
        text = f"## {name}\n\n{body}\n\nSection wall time: {time.perf_counter() - section_start:.0f} s."
        print(text + "\n", flush=True)
        parts.append(text)
    command = " ".join(["python -m benchmarks.overhead", *(argv if argv is not None else sys.argv[1:])])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    footer = f"`{command}`, {stamp}; total wall time {(time.perf_counter() - start) / 60:.1f} min."
    print(footer)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Overhead benchmarks (issue 7)\n\n" + "\n\n".join(parts) + f"\n\n{footer}\n")


if __name__ == "__main__":
    main()
