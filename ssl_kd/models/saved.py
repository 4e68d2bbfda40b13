"""The model file every model-providing stage writes (``STAGE_DIR/model.pt``) and its one loader.

``model.pt`` holds the model's spec (``build_from_spec(spec)`` rebuilds it), its weights and the stage's metadata
(``dataset``, ``image_size``, ``mean``, ``std``, ``class_names`` ...). It is written by
:func:`ssl_kd.engine.checkpoint.save_model` and read here with ``weights_only=True``; later stages
(``{from: STAGE}``), exports, extraction and the probes all load it through :func:`load_saved_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ssl_kd.engine.checkpoint import load_checkpoint
from ssl_kd.errors import SslKdError
from ssl_kd.models.base import build_from_spec

MODEL_FILE = "model.pt"


class MissingModelError(SslKdError):
    """A stage folder holds no ``model.pt``."""


def stages_with_model(run_dir: Path) -> list[str]:
    """Names of the stage folders in ``run_dir`` that hold a ``model.pt``."""
    if not run_dir.is_dir():
        return []
    return sorted(p.parent.name for p in run_dir.glob(f"*/{MODEL_FILE}") if not p.parent.name.endswith(".previous"))


def load_saved_model(stage_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of ``stage_dir/model.pt`` from its spec, load its weights; return it with its metadata.

    The model is on the CPU, in the mode its builder leaves it (training).

    Raises:
        MissingModelError: No model there; the message lists the stages of the same run that have one.
        SslKdError: The file cannot be read with ``weights_only=True``.
    """
    stage_dir = Path(stage_dir)
    path = stage_dir / MODEL_FILE
    if not path.is_file():
        available = stages_with_model(stage_dir.parent)
        listing = ", ".join(str(stage_dir.parent / name) for name in available) or "none"
        what = "has no" if stage_dir.is_dir() else "does not exist, so there is no"
        raise MissingModelError(
            f"{stage_dir} {what} {MODEL_FILE} (a stage that trained a model; run it first); stages with one: {listing}"
        )
    saved = load_checkpoint(path)
    model = build_from_spec(saved["spec"])
    model.load_state_dict(saved["state_dict"])
    return model, dict(saved.get("meta", {}))
