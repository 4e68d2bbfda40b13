"""What each parallel run of a sweep is given: its share of CPU threads and, with several GPUs, one in turn."""

from __future__ import annotations

import pytest

from ssl_kd.sweep.runner import run_env, visible_gpus


def test_threads_are_split_between_the_job_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    assert run_env(0, 3, [])["OMP_NUM_THREADS"] == "2"
    assert run_env(1, 3, [])["MKL_NUM_THREADS"] == "2"
    assert run_env(0, 16, [])["OMP_NUM_THREADS"] == "1"  # never below one


def test_several_gpus_go_round_robin_over_the_slots_and_one_gpu_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert [run_env(slot, 3, ["4", "6"])["CUDA_VISIBLE_DEVICES"] for slot in range(3)] == ["4", "6", "4"]
    assert run_env(1, 2, ["0"])["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"  # one GPU: every run shares it as it was


def test_visible_gpus_follow_cuda_visible_devices_up_to_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,7")
    assert visible_gpus() == ["3", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == ["0", "1"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert visible_gpus() == []
    assert run_env(0, 2, visible_gpus()).get("CUDA_VISIBLE_DEVICES") is None
