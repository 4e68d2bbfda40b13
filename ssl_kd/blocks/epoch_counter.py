"""A checkpointed epoch counter for methods whose behaviour depends on the epoch (DR-KD, PID/SID schedules)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class EpochCounter(nn.Module):
    """Counts finished epochs in a buffer (so it is checkpointed) with a host-side mirror (so reading it is free).

    Register it as a submodule of a method and call :meth:`increment` from ``on_epoch_end``; resuming from a
    checkpoint restores the count, so schedules continue exactly where they stopped.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self.value = 0

    def increment(self) -> None:
        """Mark one more epoch as finished."""
        self.value += 1
        self.count.fill_(self.value)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        self.value = int(self.count)
