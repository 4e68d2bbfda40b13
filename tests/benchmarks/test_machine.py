import os
import platform

import torch

from benchmarks.machine import hardware


def test_hardware_names_cores_architecture_and_accelerator(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    line = hardware()
    assert line.startswith(f"3-core {platform.machine()} CPU (") and line.endswith("), no GPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA H100")
    assert hardware().endswith("), NVIDIA H100")
