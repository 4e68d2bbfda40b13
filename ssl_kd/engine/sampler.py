"""A batch sampler whose order is a pure function of ``(seed, epoch)`` and that can start at any batch.

Every domain's training loader is built on it, so the engine can resume any stage exactly: each sample carries its
own seed (drawn from the same generator), from which a domain computes the sample's random augmentation or
negatives, identically in the main process or in workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from ssl_kd.errors import DataError

EPOCH_STRIDE = 1_000_003


class ResumableBatchSampler(Sampler[list[tuple[int, int]]]):
    """Shuffled batches of ``(index, sample_seed)`` pairs that can start at any batch of any epoch.

    ``batch_size`` is the global batch: with ``world_size`` processes, rank ``r`` gets every ``world_size``-th
    sample of each global batch, starting at ``r``, so the ranks' batches together are exactly the batch a single
    process would see (same samples, same augmentation seeds). Incomplete final batches are dropped (BatchNorm
    needs full batches); the batch size shrinks to the dataset size for tiny datasets.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if num_samples < world_size:
            raise DataError(f"{num_samples} training samples cannot be split over {world_size} processes")
        if batch_size % world_size:
            raise DataError(f"the global batch ({batch_size}) must be divisible by the {world_size} processes")
        self.num_samples = num_samples
        self.batch_size = min(batch_size, num_samples) // world_size  # per process
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        return self.num_samples // (self.batch_size * self.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch to iterate and the batch to start from (for resuming)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        generator = torch.Generator().manual_seed(self.seed * EPOCH_STRIDE + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        seeds = torch.randint(0, 2**62, (self.num_samples,), generator=generator)
        global_batch = self.batch_size * self.world_size
        for batch in range(self.start_batch, self.batches_per_epoch):
            window = slice(batch * global_batch + self.rank, (batch + 1) * global_batch, self.world_size)
            yield list(zip(order[window].tolist(), seeds[window].tolist(), strict=True))
