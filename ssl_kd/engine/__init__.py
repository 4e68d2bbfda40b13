"""The shared training engine: device and precision, optimisation, checkpoints and logging.

:class:`Trainer` is imported on first use, so that the leaf helpers (``ssl_kd.engine.distributed``, ``checkpoint``,
``device``) load without the trainer and the methods it imports (the building blocks of :mod:`ssl_kd.blocks`
use ``distributed`` and are imported by the methods).
"""

from typing import TYPE_CHECKING, Any

from ssl_kd.engine.device import resolve_device, seed_everything

if TYPE_CHECKING:
    from ssl_kd.engine.trainer import Trainer

__all__ = ["Trainer", "resolve_device", "seed_everything"]


def __getattr__(name: str) -> Any:
    if name == "Trainer":
        from ssl_kd.engine.trainer import Trainer

        return Trainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
