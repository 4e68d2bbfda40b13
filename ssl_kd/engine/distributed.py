"""Process-group helpers for runs under ``torchrun`` (DistributedDataParallel); no-ops in a single process.

``torchrun --nproc-per-node N -m ssl_kd run PIPELINE`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` set; :func:`init_from_env` joins them into one process group (``nccl`` on CUDA, ``gloo`` on CPU).
Every rank runs the whole pipeline; rank 0 alone writes files, logs and progress bars, and the ranks meet at a
barrier after each stage. ``data.batch_size`` is the *global* batch: each rank gets ``batch_size / world_size``
samples of every batch, so a pipeline gives the same optimisation problem on any number of processes.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the process that writes files and logs."""
    return rank() == 0


def rank_from_env() -> int:
    """This process's torchrun rank, also after the process group is gone (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def local_device(device: torch.device) -> torch.device:
    """The CUDA device of this process (``cuda:LOCAL_RANK``) under torchrun; ``device`` otherwise."""
    if device.type == "cuda" and is_distributed() and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def init_from_env() -> bool:
    """Join the process group described by torchrun's environment variables; False when there is none."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def shutdown() -> None:
    """Leave the process group (after a final barrier, so no rank exits while others still talk)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def abort() -> None:
    """Leave the process group at once (after an error); peers blocked in a collective then fail instead of hanging."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over ranks (``values`` itself in a single process)."""
    return all_reduce_sum(values) / world_size() if is_distributed() else values


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    if not is_distributed():
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values


@torch.no_grad()
def all_gather_cat(values: torch.Tensor) -> torch.Tensor:
    """Concatenate equally shaped tensors of every rank along dim 0, in rank order; no gradient."""
    if not is_distributed():
        return values
    chunks = [torch.empty_like(values) for _ in range(world_size())]
    dist.all_gather(chunks, values.contiguous())
    return torch.cat(chunks)


def all_gather_cat_with_grad(values: torch.Tensor) -> torch.Tensor:
    """Like :func:`all_gather_cat`, but the gradient flows back to every rank's ``values``.

    Uses ``torch.distributed.nn.functional.all_gather``, whose backward sums the gradients of all ranks for each
    chunk (a reduce-scatter). With DDP averaging parameter gradients over ranks, a loss that is a mean over the
    local anchors then has exactly the single-process gradient of the mean over the global batch.
    """
    if not is_distributed():
        return values
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(values.contiguous()))


def gather_rank_shards(values: torch.Tensor) -> torch.Tensor:
    """Reassemble rows sharded with :func:`ssl_kd.data.loaders.rank_shard` (rank r holds rows r, r + W, ...).

    Shards may differ in length by one row; they are padded for the collective and interleaved back into the
    original order. Every rank gets the whole tensor (on the CPU).
    """
    if not is_distributed():
        return values
    size = world_size()
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    local = values.to(device)
    lengths = all_gather_cat(torch.tensor([local.shape[0]], device=device)).tolist()
    padded = torch.zeros((max(lengths), *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: local.shape[0]] = local
    chunks = all_gather_cat(padded).cpu().split(max(lengths))
    whole = torch.empty((sum(lengths), *local.shape[1:]), dtype=local.dtype)
    for shard_rank, (chunk, length) in enumerate(zip(chunks, lengths, strict=True)):
        whole[shard_rank::size] = chunk[:length]
    return whole


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_tensors_(tensors: list[torch.Tensor]) -> None:
    """Overwrite ``tensors`` in place with rank 0's (e.g. parameters a method trained outside the DDP step)."""
    if not is_distributed():
        return
    for tensor in tensors:
        dist.broadcast(tensor, src=0)
