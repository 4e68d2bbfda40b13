"""The base of methods that distil from one frozen teacher: it loads and freezes ``self.teacher`` and runs it.

A frozen teacher is a submodule kept in eval mode without gradients and left out of checkpoints (it is rebuilt from
its source stage, see :meth:`Method.freeze`); its forward passes run through
:func:`~ssl_kd.blocks.teacher_outputs.frozen_forward` (inference mode, outputs cloned into normal tensors), so they
serve as constant targets. Cross-entropy on labels comes from :func:`~ssl_kd.methods.base.label_loss`, like every
method's, so that partly labelled data only needs the method's ``partial_labels`` switch.
"""

from __future__ import annotations

from typing import Any

from ssl_kd.blocks.teacher_outputs import frozen_forward
from ssl_kd.config.schema import ModelSpec
from ssl_kd.methods.base import Method
from ssl_kd.models import BackboneModel


class DistillationMethod(Method):
    """A :class:`Method` with a frozen ``self.teacher``: :meth:`load_teacher` in ``__init__``, then
    :meth:`teacher_forward` in ``training_step``. Subclasses load their other models in the order they always
    have (building a model draws from the global generator)."""

    teacher: BackboneModel

    def load_teacher(self, spec: ModelSpec, num_classes: int | None) -> BackboneModel:
        """Load ``spec`` (``env.load_model(spec, num_classes)``) as the frozen ``self.teacher`` and return it."""
        self.teacher = self.env.load_model(spec, num_classes)
        self.freeze("teacher")
        return self.teacher

    def teacher_forward(self, *args: Any, via: str | None = None) -> Any:
        """The teacher's outputs as constant targets: ``self.teacher(*args)``, or ``self.teacher.<via>(*args)``
        (``forward_taps``, ``forward_features``, ``forward_attention`` ...), under inference mode."""
        forward = self.teacher if via is None else getattr(self.teacher, via)
        return frozen_forward(forward, *args)
