"""Device selection, mixed precision and seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ssl_kd.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an explicit CUDA device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"engine.device={name!r} but CUDA is not available here (use 'auto' or 'cpu')")
    return device


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``engine.amp`` on ``device``, or None when AMP is off.

    ``auto`` is bf16 on CPU and on CUDA GPUs that support it, fp16 on older GPUs.
    """
    if mode == "off":
        return None
    if mode == "fp16":
        if device.type != "cuda":
            raise ConfigError("engine.amp=fp16 needs CUDA; use bf16 (or auto) on CPU")
        return torch.float16
    if mode == "auto" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def step_seed(seed: int, step: int) -> int:
    """The RNG seed of optimisation step ``step`` (dropout and other in-model randomness)."""
    return (seed * 6_364_136_223_846_793_005 + step * 1_442_695_040_888_963_407) % 2**63


def seed_step(seed: int, step: int, device: torch.device) -> None:
    """Seed what step ``step`` draws from: the CPU generator, and the current CUDA device's when training there.

    ``torch.manual_seed`` would also seed every other backend; on this CUDA build it costs 0.2-0.4 ms a call, the
    largest per-step cost of the engine on CPU (benchmarks/overhead.py), against about 1 us for the CPU generator.
    """
    value = step_seed(seed, step)
    torch.default_generator.manual_seed(value)
    if device.type == "cuda":
        torch.cuda.manual_seed(value)
