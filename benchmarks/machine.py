"""The machine a benchmark ran on, in words, for the first line of every report."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown model"


def hardware() -> str:
    """Cores, architecture, CPU model and accelerator, e.g. ``2-core x86_64 CPU (AMD EPYC ...), no GPU``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    accelerator = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cores}-core {platform.machine()} CPU ({cpu_model()}), {accelerator}"
