"""Atomic writes and safe loading of checkpoints, models and JSON records.

Every file is written to a temporary name in the same folder, flushed to disk and renamed over the target, so a
kill at any moment leaves either the old or the new file, never a torn one. Checkpoints load with
``weights_only=True``: only tensors and plain containers, never pickled code.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ssl_kd.errors import SslKdError


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` atomically."""
    _atomic_write(Path(path), lambda handle: torch.save(obj, handle))


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    _atomic_write(Path(path), lambda handle: handle.write(text.encode()))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise SslKdError(f"checkpoint {str(path)!r} does not exist") from None
    except pickle.UnpicklingError as err:
        reason = str(err).split("WeightsUnpickler error: ")[-1].split(".")[0]
        raise SslKdError(f"checkpoint {str(path)!r} cannot be read with weights_only=True: {reason}") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise SslKdError(f"checkpoint {str(path)!r} cannot be read: {err}") from None


def save_model(path: Path, model: torch.nn.Module, spec: dict[str, Any], **meta: Any) -> None:
    """Save a model's weights with the spec needed to rebuild it (``build_model(**spec)``); read back by
    :func:`ssl_kd.models.saved.load_saved_model`."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    atomic_save({"spec": spec, "state_dict": state, "meta": meta}, path)
