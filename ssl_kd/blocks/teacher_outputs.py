"""A frozen teacher's outputs, run lean (inference mode) or cached once per training sample on disk.

CompRess (Abbasi Koohpayegani, Tejankar, Pirsiavash, NeurIPS 2020) runs its frozen teacher once per image and
reuses the stored outputs. That is only exact when the teacher's input for a sample never changes, i.e. with no
augmentation (``data.augment: none``); the config of a method offering the cache checks this.

The cache is a float32 ``numpy`` memory map of shape (samples, width) plus a filled mask, in the stage folder
(``teacher_cache/``), so it survives an interrupted stage and is dropped with the stage when its config changes.
A batch with any sample not yet cached runs the teacher (and writes the missing rows; that is the only host
transfer, and happens in the first epoch); afterwards the teacher never runs again. Under torchrun every rank keeps
its own cache file, filled from the samples it sees (no collective per step).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from numpy.lib.format import open_memmap
from torch import Tensor, nn

from ssl_kd.engine import distributed

T = TypeVar("T")
M = TypeVar("M", bound=nn.Module)


def frozen_copy(module: M) -> M:
    """A deep copy of ``module`` in eval mode without gradients: a teacher made from a live model for
    :func:`frozen_forward` (DR-KD's snapshot or EMA of its student).

    A teacher loaded from a stage is frozen with ``Method.freeze(name)`` instead, which also leaves it out of the
    checkpoint; a copy like this is part of the method's state and stays in it (the owner keeps it in eval mode
    across ``train()``).
    """
    return copy.deepcopy(module).requires_grad_(False).eval()


def frozen_forward(forward: Callable[..., T], *args: Any) -> T:
    """``forward(*args)`` under ``torch.inference_mode`` (no autograd bookkeeping), returned as normal tensors.

    ``forward`` is a frozen model or one of its methods (``forward_taps``, ``forward_features`` ...), or any module
    whose outputs serve only as constant targets (a DML peer's prediction for the other peers). Inference
    tensors cannot be saved for a backward pass, so every tensor of the result (also inside dicts, lists, tuples and
    dataclasses) is cloned: the result can serve as a constant target inside an autograd graph, for one small copy.
    """
    with torch.inference_mode():
        outputs = forward(*args)
    return _clone(outputs)


def _clone(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _clone(getattr(value, f.name)) for f in dataclasses.fields(value)})
    return value


class TeacherCache:
    """Per-sample teacher outputs on disk.

    Args:
        folder: where the memory maps live (created).
        num_samples: size of the training set (sample ids 0 .. num_samples - 1).
        width: output width (e.g. the number of classes for logits).
    """

    def __init__(self, folder: Path, num_samples: int, width: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        suffix = f".rank{distributed.rank()}" if distributed.is_distributed() else ""
        self.values = _open(folder / f"values{suffix}.npy", (num_samples, width), np.float32)
        self.filled = _open(folder / f"filled{suffix}.npy", (num_samples,), np.bool_)

    def __call__(self, teacher: nn.Module, images: Tensor, sample_ids: Tensor) -> Tensor:
        """The teacher's outputs for ``images`` (whose dataset indices are ``sample_ids``, on the CPU)."""
        ids = sample_ids.numpy()
        if self.filled[ids].all():
            return torch.from_numpy(self.values[ids]).to(images.device, non_blocking=True)
        outputs = frozen_forward(teacher, images)
        self.values[ids] = outputs.float().cpu().numpy()
        self.filled[ids] = True
        return outputs

    def complete(self) -> bool:
        """True once every sample's output is cached."""
        return bool(self.filled.all())


def _open(path: Path, shape: tuple[int, ...], dtype: type) -> np.memmap:
    """An existing memory map of the right shape and dtype, else a new zero-filled one."""
    if path.is_file():
        existing = open_memmap(path, mode="r+")
        if existing.shape == shape and existing.dtype == dtype:
            return existing
        del existing
    return open_memmap(path, mode="w+", dtype=dtype, shape=shape)
