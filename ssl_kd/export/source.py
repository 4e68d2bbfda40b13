"""The model a stage wrote (``STAGE_DIR/model.pt``), with the metadata exports and extraction need."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssl_kd.engine.checkpoint import load_checkpoint
from ssl_kd.export.base import ExportError
from ssl_kd.models import BackboneModel, build_model

# The file every model-providing stage writes (``ssl_kd.stages.base.MODEL_FILE``; not imported from there because
# ``ssl_kd.stages`` imports this package for the ``export`` stage kind).
MODEL_FILE = "model.pt"


@dataclass
class StageModel:
    """A finished stage's output model and its saved metadata.

    Attributes:
        stage_dir: The stage folder.
        model: The rebuilt model, in eval mode, on the CPU.
        meta: ``dataset``, ``image_size``, ``mean``, ``std``, ``class_names`` as saved by the stage.
    """

    stage_dir: Path
    model: BackboneModel
    meta: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input without the batch dimension: ``meta["input_shape"]`` or ``(3, image_size, image_size)``."""
        if "input_shape" in self.meta:
            return tuple(self.meta["input_shape"])
        size = int(self.meta.get("image_size", 32))
        return (3, size, size)


def stages_with_model(run_dir: Path) -> list[str]:
    """Names of the stage folders in ``run_dir`` that hold a ``model.pt``."""
    if not run_dir.is_dir():
        return []
    return sorted(p.parent.name for p in run_dir.glob(f"*/{MODEL_FILE}") if not p.parent.name.endswith(".previous"))


def load_stage(stage_dir: Path) -> StageModel:
    """Load ``stage_dir/model.pt``.

    Raises:
        ExportError: No model there; the message lists the stages of the same run that have one.
    """
    stage_dir = Path(stage_dir)
    path = stage_dir / MODEL_FILE
    if not path.is_file():
        available = stages_with_model(stage_dir.parent)
        listing = ", ".join(str(stage_dir.parent / name) for name in available) or "none"
        what = "has no" if stage_dir.is_dir() else "does not exist, so there is no"
        raise ExportError(f"{stage_dir} {what} {MODEL_FILE} (a stage that trained a model); stages with one: {listing}")
    saved = load_checkpoint(path)
    model = build_model(**saved["spec"])
    model.load_state_dict(saved["state_dict"])
    return StageModel(stage_dir, model.eval(), dict(saved.get("meta", {})))
