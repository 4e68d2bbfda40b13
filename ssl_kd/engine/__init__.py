"""The shared training engine: device and precision, optimisation, checkpoints and logging."""

from ssl_kd.engine.device import resolve_device, seed_everything
from ssl_kd.engine.trainer import Trainer

__all__ = ["Trainer", "resolve_device", "seed_everything"]
