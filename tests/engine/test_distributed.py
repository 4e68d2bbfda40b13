"""torchrun / DDP: a 2-process gloo run matches 1 process, queues gather every rank, gathered negatives are exact.

Multi-process tests use 2 CPU processes on the gloo backend and tiny models, so they stay a few seconds each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from ssl_kd.engine import distributed
from ssl_kd.losses import NTXent

REPO = Path(__file__).resolve().parents[2]
WORLD = 2
TINY_CNN = {"arch": "alexnet", "options": {"width": 0.25, "fc_dim": 32}}


def _init(rank: int, init_file: str) -> None:
    sys.path.insert(0, str(REPO / "tests" / "methods"))  # kd_helpers, in the spawned process
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)


def _moco_worker(rank: int, init_file: str, out: str) -> None:
    """One DDP training step of MoCo v2 on each rank, each rank with its own images."""
    _init(rank, init_file)
    from kd_helpers import build_method

    from ssl_kd.engine.trainer import wrap_for_ranks

    torch.manual_seed(0)
    method = build_method(
        {"method": "moco_v2", "model": TINY_CNN, "queue_size": 16, "dim": 8, "key_bn_splits": 1, "momentum": 0.9}
    )
    step = wrap_for_ranks(method, torch.device("cpu"), sync_batchnorm=False)
    generator = torch.Generator().manual_seed(100 + rank)  # different images on each rank
    views = [torch.randn(4, 3, 32, 32, generator=generator) for _ in range(2)]
    method.train()
    loss = sum(step(0, (views, torch.zeros(4, dtype=torch.int64))).values())  # labels are dropped: MoCo uses none
    loss.backward()
    with torch.no_grad():  # the keys this rank enqueued: the (already momentum-updated) key encoder on view 2
        keys = method.key_encoder(views[1])
    torch.save(
        {"bank": method.queue.bank("keys"), "pointer": method.queue.pointer, "keys": keys}, f"{out}/rank{rank}.pt"
    )
    dist.destroy_process_group()


def _nt_xent_worker(rank: int, init_file: str, out: str) -> None:
    _init(rank, init_file)
    torch.manual_seed(0)  # the same encoder on both ranks
    encoder = DistributedDataParallel(torch.nn.Linear(6, 4))
    x1, x2 = torch.load(f"{out}/inputs.pt")
    local = slice(rank * 4, (rank + 1) * 4)  # this rank's 4 images of the global batch of 8
    z1 = torch.nn.functional.normalize(encoder(x1[local]), dim=1)
    z2 = torch.nn.functional.normalize(encoder(x2[local]), dim=1)
    all_z1 = distributed.all_gather_cat_with_grad(z1)
    all_z2 = distributed.all_gather_cat_with_grad(z2)
    loss = NTXent(0.5)(z1, z2, all_z1, all_z2, offset=rank * 4)
    loss.backward()  # DDP averages the weight gradient over the ranks
    torch.save({"grad": encoder.module.weight.grad, "loss": loss.detach()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def _broadcast_worker(rank: int, init_file: str, out: str) -> None:
    _init(rank, init_file)
    tensors = [torch.full((3,), float(rank + 1)), torch.full((2, 2), 10.0 * (rank + 1))]
    distributed.broadcast_tensors_(tensors)
    torch.save({"tensors": tensors}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def _spawn(worker, tmp_path: Path) -> list[dict]:
    mp.spawn(worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    return [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]


def test_moco_queue_holds_the_keys_of_both_ranks_after_one_step(tmp_path: Path) -> None:
    results = _spawn(_moco_worker, tmp_path)
    both = torch.cat([results[0]["keys"], results[1]["keys"]])  # rank 0's keys, then rank 1's
    assert not torch.allclose(results[0]["keys"], results[1]["keys"])
    for result in results:
        torch.testing.assert_close(result["bank"][:8], both)  # identical queues on every rank
        assert int(result["pointer"]) == 8


def test_gathered_negatives_give_the_single_process_gradient(tmp_path: Path) -> None:
    torch.manual_seed(1)
    x1, x2 = torch.randn(8, 6), torch.randn(8, 6)
    torch.save((x1, x2), tmp_path / "inputs.pt")
    results = _spawn(_nt_xent_worker, tmp_path)
    torch.manual_seed(0)
    encoder = torch.nn.Linear(6, 4)
    z1 = torch.nn.functional.normalize(encoder(x1), dim=1)
    z2 = torch.nn.functional.normalize(encoder(x2), dim=1)
    loss = NTXent(0.5)(z1, z2)
    loss.backward()
    for result in results:
        torch.testing.assert_close(result["grad"], encoder.weight.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close((results[0]["loss"] + results[1]["loss"]) / 2, loss.detach())


# kd_digits.yaml shrunk for the test: a few images, 2 epochs. ViTs have no BatchNorm, so 2 processes with half
# batches each compute exactly the single-process gradients (BatchNorm statistics would be per rank).
TINY_KD = [
    "data.train_per_class=4",
    "data.batch_size=20",
    "data.eval_batch_size=500",
    "engine.eval_every=0",
    "engine.tensorboard=false",
    "engine.progress=false",
    "teacher.epochs=2",
    "distill.epochs=2",
    "teacher.model.arch=vit",
    "teacher.model.options={dim: 16, depth: 2, heads: 2, patch_size: 8}",
    "distill.student.arch=vit",
    "distill.student.options={dim: 16, depth: 1, heads: 2, patch_size: 8}",
    "probe.shots=[1]",
    "probe.draws=1",
]


def _start_kd(run_dir: Path, nproc: int) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    command = [sys.executable, "-m", "ssl_kd", "run", str(REPO / "pipelines" / "kd_digits.yaml"), *TINY_KD]
    command += ["--run-dir", str(run_dir), "--no-report", "-q", "--nproc", str(nproc)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _results(process: subprocess.Popen, run_dir: Path) -> dict:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads((run_dir / "results.json").read_text())


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    one, two = _start_kd(tmp_path / "one", nproc=1), _start_kd(tmp_path / "two", nproc=2)  # side by side
    single, double = _results(one, tmp_path / "one"), _results(two, tmp_path / "two")
    for stage in ("teacher", "distill"):
        # Stated tolerance: losses to 1e-4 relative (float summation order differs), accuracy to 1 test image.
        assert double[stage]["train_loss"] == pytest.approx(single[stage]["train_loss"], rel=1e-4)
        assert abs(double[stage]["test_top1"] - single[stage]["test_top1"]) <= 1 / 450 + 1e-9
        assert double[stage]["steps"] == single[stage]["steps"]
    assert double["probe"]["linear_top1"] == pytest.approx(single["probe"]["linear_top1"], abs=1 / 450 + 1e-9)
    history = [json.loads((tmp_path / run / "distill" / "history.json").read_text()) for run in ("one", "two")]
    assert [h["loss"] for h in history[1]] == pytest.approx([h["loss"] for h in history[0]], rel=1e-4)
    assert not (tmp_path / "two" / "distill" / "checkpoints" / ".last.pt.tmp").exists()


def test_sync_batchnorm_on_cpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ssl_kd.engine import trainer
    from ssl_kd.errors import ConfigError

    monkeypatch.setattr(trainer.distributed, "is_distributed", lambda: True)
    with pytest.raises(ConfigError, match="sync_batchnorm needs CUDA"):
        trainer.wrap_for_ranks(torch.nn.Module(), torch.device("cpu"), sync_batchnorm=True)


def test_broadcast_gives_every_rank_rank_zeros_tensors(tmp_path: Path) -> None:
    for result in _spawn(_broadcast_worker, tmp_path):
        torch.testing.assert_close(result["tensors"], [torch.ones(3), torch.full((2, 2), 10.0)])


def test_single_process_helpers_are_identities() -> None:
    values = torch.arange(6.0).view(3, 2)
    assert distributed.world_size() == 1 and distributed.is_main()
    assert distributed.all_gather_cat(values) is values and distributed.gather_rank_shards(values) is values
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}


def test_a_rank_with_only_undecodable_files_stops_the_run_with_a_clear_error(tmp_path: Path) -> None:
    import numpy as np
    import yaml
    from PIL import Image

    for split in ("train", "test"):
        for label, colour in (("cat", 40), ("dog", 200)):
            folder = tmp_path / "data" / split / label
            folder.mkdir(parents=True)
            Image.fromarray(np.full((20, 24, 3), colour, dtype=np.uint8)).save(folder / "0.png")
            if split == "train":
                for i in range(5):  # most training files are broken: some rank draws only broken ones
                    (folder / f"broken{i}.png").write_bytes(b"not a png")
    pipeline = {
        "name": "broken",
        "stages": [
            {
                "name": "train",
                "kind": "train",
                "method": "supervised",
                "model": TINY_CNN,
                "epochs": 1,
                "data": {"name": "image_folder", "root": str(tmp_path / "data"), "batch_size": 4, "image_size": 16},
                "engine": {"progress": False, "tensorboard": False},
            }
        ],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(pipeline))
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "ssl_kd", "run", str(tmp_path / "p.yaml"), "--run-dir", str(tmp_path / "run")]
    result = subprocess.run([*command, "--nproc", "2", "--no-report"], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "was unreadable" in result.stderr and "broken" in result.stderr
