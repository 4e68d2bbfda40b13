"""The training engine shared by every training stage.

Owns device placement, mixed precision, channels_last, the optimiser and per-step schedule, gradient clipping,
checkpointing (every ``checkpoint_every`` steps and at the end, atomically), exact resumption, the progress bar,
TensorBoard scalars, the NaN/inf guard and early stopping on a validation metric (the best state is kept, checkpointed
and restored at the end). Loss values stay on the device between log intervals: the only host
syncs are every ``log_every`` steps, before a checkpoint and at the end of an epoch.

Under ``torchrun`` the method is wrapped in DistributedDataParallel (through :class:`MethodStep`, whose forward is
one update phase of the method), logged loss windows are averaged over ranks at each flush, and only rank 0 writes
checkpoints, history, TensorBoard and the progress bar.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ssl_kd.config.schema import TrainStageConfig
from ssl_kd.engine import distributed
from ssl_kd.engine.checkpoint import atomic_save, atomic_write_json, load_checkpoint
from ssl_kd.engine.device import amp_dtype, seed_step
from ssl_kd.engine.method import Batch, TrainableMethod, move_to_device
from ssl_kd.engine.optim import build_optimizer, lr_factor
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.errors import ConfigError, DataError, TrainingDiverged

Evaluate = Callable[[], dict[str, float]]


class MethodStep(nn.Module):
    """A module whose forward is one update phase of ``method``: what DistributedDataParallel wraps.

    DDP synchronises the gradients of the parameters a forward pass used, so the method's loss computation has to
    run inside a forward; the method itself keeps its own hooks, checkpoints and output model.
    """

    def __init__(self, method: TrainableMethod) -> None:
        super().__init__()
        self.method = method

    def forward(self, phase: int, inputs: Any) -> dict[str, torch.Tensor]:
        return self.method.step(inputs, phase)


def wrap_for_ranks(method: TrainableMethod, device: torch.device, sync_batchnorm: bool) -> nn.Module:
    """``MethodStep(method)``, inside DistributedDataParallel when more than one process runs."""
    if not distributed.is_distributed():
        return MethodStep(method)
    if sync_batchnorm:
        if device.type != "cuda":
            raise ConfigError("engine.sync_batchnorm needs CUDA: torch's SyncBatchNorm has no CPU kernel")
        nn.SyncBatchNorm.convert_sync_batchnorm(method)
    return DistributedDataParallel(
        MethodStep(method),
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=method.find_unused_parameters,
    )


class Trainer:
    """Optimises ``method`` for ``cfg.epochs`` epochs of ``loader``, resuming from ``stage_dir`` if possible.

    Args:
        method: the method (models + losses) to train.
        cfg: the training stage's config.
        loader: training loader built on ``sampler``, yielding :class:`~ssl_kd.engine.method.Batch` es.
        sampler: the resumable batch sampler behind ``loader``.
        stage_dir: where ``checkpoints/last.pt``, ``history.json`` and ``tb/`` go.
        fingerprint: the stage's config fingerprint; a checkpoint with another fingerprint is not resumed.
        device: where to train.
        log: the stage's logger.
        evaluate: optional callback returning test metrics, run every ``engine.eval_every`` epochs.
        validate: callback returning ``val_*`` metrics, run every ``early_stopping.every`` epochs when the stage
            sets ``early_stopping`` (required then).
    """

    def __init__(
        self,
        method: TrainableMethod,
        cfg: TrainStageConfig,
        loader: DataLoader,
        sampler: ResumableBatchSampler,
        stage_dir: Path,
        fingerprint: str,
        device: torch.device,
        log: logging.Logger,
        evaluate: Evaluate | None = None,
        validate: Evaluate | None = None,
    ) -> None:
        if cfg.early_stopping is not None and validate is None:
            raise ConfigError(f"stage {cfg.name!r}: early_stopping needs a validation split, and this data has none")
        self.method = method
        self.cfg = cfg
        self.engine = cfg.engine
        self.loader = loader
        self.sampler = sampler
        self.stage_dir = stage_dir
        self.checkpoint_path = stage_dir / "checkpoints" / "last.pt"
        self.fingerprint = fingerprint
        self.device = device
        self.log = log
        self.evaluate = evaluate
        self.validate = validate
        self.early_stopping = cfg.early_stopping
        self.dtype = amp_dtype(self.engine.amp, device)
        self.memory_format = torch.channels_last if self.engine.channels_last else torch.preserve_format
        self.method.to(device=device, memory_format=self.memory_format)
        self.main = distributed.is_main()
        self.step_module = wrap_for_ranks(method, device, self.engine.sync_batchnorm)
        own = method.own_optimizers()
        owned = {id(param) for group in own.values() for param in group.parameters}
        main_parameters = ((name, p) for name, p in method.trainable_named_parameters() if id(p) not in owned)
        self.optimizer = build_optimizer(main_parameters, cfg.optim)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.own_optimizers = {
            name: (build_optimizer(((name, p) for p in group.parameters), group.optim), group)
            for name, group in own.items()
        }
        self.stepped = [  # (optimizer, its parameters, its gradient clipping): the main one first
            (optimizer, [p for group in optimizer.param_groups for p in group["params"]], grad_clip)
            for optimizer, grad_clip in [
                (self.optimizer, self.engine.grad_clip),
                *((optimizer, own.grad_clip) for optimizer, own in self.own_optimizers.values()),
            ]
        ]
        self.own_base_lrs = {
            name: [param_group["lr"] for param_group in optimizer.param_groups]
            for name, (optimizer, _) in self.own_optimizers.items()
        }
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.steps_per_epoch = sampler.batches_per_epoch
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.skipped: list[str] = []
        self.epoch_sums: dict[str, float] = {}
        self.epoch_steps = 0
        self.last_good_step = 0
        self.samples_per_s = 0.0
        self.data_wait_frac = 0.0
        # early stopping: the best validation so far, the method's state then, validations since, whether stopped
        self.best_value = math.nan
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stale_validations = 0
        self.stopped_epoch = 0

    def fit(self) -> dict[str, Any]:
        """Train to the end (or resume to the end) and return the final training metrics."""
        self._resume()
        if self.step == 0:
            self.method.on_train_start()
        writer = self._tensorboard()
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc=self.cfg.name,
            unit="step",
            dynamic_ncols=True,
            disable=None if self.engine.progress and self.main else True,
        )
        try:
            while self.step < self.total_steps and not self.stopped_epoch:
                self._run_epoch(bar, writer)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
        if self.best_state is not None:
            self.method.load_trainable_state_dict(self.best_state)
        self._save_checkpoint()
        last = self.history[-1] if self.history else {}
        metrics = {
            "train_loss": last.get("loss", math.nan),
            "steps": self.step,
            "skipped_samples": int(
                distributed.all_reduce_sum(torch.tensor(len(self.skipped), device=self.device)).item()
            ),
        }
        if self.early_stopping is not None:
            metrics |= {
                f"best_{self.early_stopping.metric}": self.best_value,
                "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch or self.step // self.steps_per_epoch,
            }
        return metrics

    def _run_epoch(self, bar: tqdm, writer: Any) -> None:
        epoch_start = time.perf_counter()
        epoch, start_batch = divmod(self.step, self.steps_per_epoch)
        self.sampler.set_epoch(epoch, start_batch)
        self.method.train()
        window: dict[str, torch.Tensor] = {}
        window_steps, window_samples = 0, 0
        window_start, data_wait = time.perf_counter(), 0.0
        fetch_start = time.perf_counter()
        batch: Batch
        for batch in self.loader:
            data_wait += time.perf_counter() - fetch_start
            if batch.skipped:
                self._record_skipped(batch.skipped)
            size = len(batch.sample_ids)
            if size == 0:  # every sample of the batch was unreadable
                if distributed.is_distributed():  # skipping alone would leave the other ranks waiting in DDP
                    raise DataError(
                        f"stage {self.cfg.name!r}: every sample of rank {distributed.rank()}'s batch at step "
                        f"{self.step + 1} was unreadable ({'; '.join(batch.skipped)}); stopped, the last "
                        f"checkpoint (step {self.last_good_step}) is kept. Remove the broken files or use a "
                        "larger batch."
                    )
                self.step += 1
                bar.update(1)
                continue
            terms = self._train_step(batch)
            for name, value in terms.items():
                window[name] = window.get(name, 0) + value.detach().float()
            window_steps += 1
            window_samples += size
            self.step += 1
            bar.update(1)
            end_of_epoch = self.step % self.steps_per_epoch == 0
            if self.step % self.engine.log_every == 0 or end_of_epoch or self._checkpoint_due():
                elapsed = time.perf_counter() - window_start
                self._flush(window, window_steps, window_samples / elapsed, data_wait / elapsed, bar, writer)
                window, window_steps, window_samples = {}, 0, 0
                window_start, data_wait = time.perf_counter(), 0.0
            if self._checkpoint_due() and not end_of_epoch:
                self._save_checkpoint()
            fetch_start = time.perf_counter()
        self._end_epoch(epoch, writer, time.perf_counter() - epoch_start)

    def _train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        seed_step(self.engine.seed, self.step, self.device)
        factor = lr_factor(self.step, self.total_steps, self.steps_per_epoch, self.cfg.optim)
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base_lr * factor
        for name, (optimizer, own) in self.own_optimizers.items():
            factor = lr_factor(self.step, self.total_steps, self.steps_per_epoch, own.optim)
            for group, base_lr in zip(optimizer.param_groups, self.own_base_lrs[name], strict=True):
                group["lr"] = base_lr * factor
        inputs = move_to_device(batch.inputs, self.device, self.memory_format)
        self.method.sample_ids = batch.sample_ids
        autocast = torch.autocast(self.device.type, dtype=self.dtype) if self.dtype is not None else nullcontext()
        all_terms: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=self.device)
        for phase in range(self.method.update_phases):  # one optimiser step per phase; usually one phase
            with autocast:
                terms = self.step_module(phase, inputs)
            loss = torch.stack([value.float() for value in terms.values()]).sum()
            for optimizer, _, _ in self.stepped:
                optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            for optimizer, params, grad_clip in self.stepped:
                if all(p.grad is None for p in params):
                    continue  # this phase left the set without gradients (a scaled step would find no inf check)
                if grad_clip is not None:
                    self.scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                self.scaler.step(optimizer)
            self.scaler.update()
            all_terms |= terms
            total = total + loss.detach()
        self.method.on_step_end(self.step)
        return {"loss": total, **all_terms}

    def _flush(
        self,
        window: dict[str, torch.Tensor],
        steps: int,
        samples_per_s: float,
        data_wait_frac: float,
        bar: tqdm,
        writer: Any,
    ) -> None:
        """Sync the window's loss sums to the host, check them, and log them."""
        if not steps:
            return
        names = list(window)
        sums = distributed.all_reduce_mean(torch.stack([window[name] for name in names])).tolist()
        samples_per_s *= distributed.world_size()
        means = {name: total / steps for name, total in zip(names, sums, strict=True)}
        if not all(math.isfinite(value) for value in means.values()):
            bad = ", ".join(f"{n}={v}" for n, v in means.items() if not math.isfinite(v))
            raise TrainingDiverged(
                f"stage {self.cfg.name!r}: loss became non-finite ({bad}) between steps "
                f"{self.step - steps + 1} and {self.step}; stopped. The last good checkpoint "
                f"(step {self.last_good_step}) is kept in {self.checkpoint_path}. Try a lower optim.lr, "
                "engine.grad_clip, or engine.amp=off."
            )
        for name, total in zip(names, sums, strict=True):
            self.epoch_sums[name] = self.epoch_sums.get(name, 0.0) + total
        self.epoch_steps += steps
        lr = self.optimizer.param_groups[0]["lr"]
        bar.set_postfix(loss=f"{means['loss']:.4f}", lr=f"{lr:.3g}", samples_s=f"{samples_per_s:.0f}")
        if writer is not None:
            for name, value in means.items():
                writer.add_scalar(f"train/{name}", value, self.step)
            writer.add_scalar("train/lr", lr, self.step)
            writer.add_scalar("train/samples_per_s", samples_per_s, self.step)
            writer.add_scalar("train/data_wait_frac", data_wait_frac, self.step)
        self.samples_per_s = samples_per_s
        self.data_wait_frac = data_wait_frac

    def _end_epoch(self, epoch: int, writer: Any, seconds: float) -> None:
        self.method.on_epoch_end(epoch)
        record: dict[str, float] = {"epoch": epoch + 1, "step": self.step}
        record |= {name: total / max(1, self.epoch_steps) for name, total in self.epoch_sums.items()}
        record |= {
            "lr": self.optimizer.param_groups[0]["lr"],
            "samples_per_s": self.samples_per_s,
            "data_wait_frac": self.data_wait_frac,
            "epoch_seconds": seconds,
        }
        every = self.engine.eval_every
        if self.evaluate is not None and every and (epoch + 1) % every == 0:
            evaluation = self.evaluate()
            self.method.train()
            record |= evaluation
            if writer is not None:
                for name, value in evaluation.items():
                    writer.add_scalar(f"eval/{name}", value, self.step)
        stopping = self.early_stopping
        if stopping is not None and (epoch + 1) % stopping.every == 0:
            record |= self._validate(epoch, writer)
        self.history.append(record)
        self.epoch_sums, self.epoch_steps = {}, 0
        terms = ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k not in ("epoch", "step"))
        self.log.info("epoch %d/%d step %d: %s", epoch + 1, self.cfg.epochs, self.step, terms)
        if self.main:
            atomic_write_json(self.stage_dir / "history.json", self.history)
        if self.step < self.total_steps and (self._checkpoint_due() or self.stopped_epoch):  # deferred from the loop
            self._save_checkpoint()

    def _validate(self, epoch: int, writer: Any) -> dict[str, float]:
        """Run the validation, keep the method's state if it is the best so far, and decide whether to stop."""
        assert self.validate is not None and self.early_stopping is not None
        stopping = self.early_stopping
        metrics = self.validate()
        self.method.train()
        if stopping.metric not in metrics:
            raise ConfigError(
                f"stage {self.cfg.name!r}: early_stopping.metric {stopping.metric!r} is not a validation metric of "
                f"this data; it has {', '.join(sorted(metrics))}"
            )
        value = float(metrics[stopping.metric])
        value = distributed.all_reduce_mean(torch.tensor(value, dtype=torch.float64, device=self.device)).item()
        better = value > self.best_value if stopping.mode == "max" else value < self.best_value
        if self.best_state is None or better:  # a NaN validation never counts as better
            self.best_value, self.best_epoch, self.stale_validations = value, epoch + 1, 0
            self.best_state = {
                key: tensor.detach().clone() for key, tensor in self.method.trainable_state_dict().items()
            }
        else:
            self.stale_validations += 1
            if self.stale_validations >= stopping.patience:
                self.stopped_epoch = epoch + 1
                self.log.info(
                    "early stopping at epoch %d: %s has not improved for %d validations (best %.4f at epoch %d)",
                    epoch + 1,
                    stopping.metric,
                    self.stale_validations,
                    self.best_value,
                    self.best_epoch,
                )
        if writer is not None:
            for name, metric in metrics.items():
                writer.add_scalar(f"val/{name}", metric, self.step)
        return metrics

    def _checkpoint_due(self) -> bool:
        return self.step % self.engine.checkpoint_every == 0

    def _save_checkpoint(self) -> None:
        self.last_good_step = self.step
        if not self.main:
            return
        atomic_save(
            {
                "fingerprint": self.fingerprint,
                "step": self.step,
                "method": self.method.trainable_state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "own_optimizers": {
                    name: optimizer.state_dict() for name, (optimizer, _) in self.own_optimizers.items()
                },
                "scaler": self.scaler.state_dict(),
                "history": self.history,
                "epoch_sums": self.epoch_sums,
                "epoch_steps": self.epoch_steps,
                "skipped": self.skipped,
                "rng": torch.get_rng_state(),
                "early_stopping": {
                    "best_value": self.best_value,
                    "best_epoch": self.best_epoch,
                    "best_state": self.best_state,
                    "stale_validations": self.stale_validations,
                    "stopped_epoch": self.stopped_epoch,
                },
            },
            self.checkpoint_path,
        )

    def _resume(self) -> None:
        if not self.checkpoint_path.is_file():
            return
        state = load_checkpoint(self.checkpoint_path, map_location=self.device)
        if state.get("fingerprint") != self.fingerprint:
            self.log.warning("ignoring %s: it was written by a different config", self.checkpoint_path)
            return
        self.method.load_trainable_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name, (optimizer, _) in self.own_optimizers.items():
            optimizer.load_state_dict(state["own_optimizers"][name])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"].cpu())
        self.step = self.last_good_step = state["step"]
        self.history = state["history"]
        self.epoch_sums, self.epoch_steps = state["epoch_sums"], state["epoch_steps"]
        self.skipped = state["skipped"]
        stopping = state.get("early_stopping") or {  # checkpoints from before early stopping existed
            "best_value": math.nan, "best_epoch": 0, "best_state": None, "stale_validations": 0, "stopped_epoch": 0
        }  # fmt: skip
        self.best_value, self.best_epoch = stopping["best_value"], stopping["best_epoch"]
        self.best_state, self.stale_validations = stopping["best_state"], stopping["stale_validations"]
        self.stopped_epoch = stopping["stopped_epoch"]
        epoch, batch = divmod(self.step, self.steps_per_epoch)
        self.log.info(
            "resuming from checkpoint at step %d of %d (epoch %d, batch %d)",
            self.step,
            self.total_steps,
            epoch + 1,
            batch,
        )

    def _record_skipped(self, names: list[str]) -> None:
        for name in names:
            self.log.warning("skipped undecodable sample: %s", name)
        self.skipped.extend(names)

    def _tensorboard(self) -> Any:
        if not self.engine.tensorboard or not self.main:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.stage_dir / "tb"), purge_step=self.step or None)
