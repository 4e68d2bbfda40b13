"""The model a stage wrote (``STAGE_DIR/model.pt``), with the metadata exports and extraction need."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssl_kd.export.base import ExportError
from ssl_kd.models import BackboneModel
from ssl_kd.models.saved import MissingModelError, load_saved_model


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


def load_stage(stage_dir: Path) -> StageModel:
    """Load ``stage_dir/model.pt`` (:func:`ssl_kd.models.saved.load_saved_model`), in eval mode.

    Raises:
        ExportError: No model there; the message lists the stages of the same run that have one.
    """
    try:
        model, meta = load_saved_model(stage_dir)
    except MissingModelError as error:
        raise ExportError(str(error)) from None
    return StageModel(Path(stage_dir), model.eval(), meta)
