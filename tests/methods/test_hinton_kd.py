"""Hinton KD's teacher-output cache: refused under augmentation, and equal to live KD in a pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest
from kd_helpers import TINY_CNN, run_tiny

from ssl_kd.methods.hinton_kd import HintonKDConfig


def test_cache_refuses_augmented_inputs() -> None:
    spec = {"name": "kd", "student": TINY_CNN, "teacher": {"from": "t"}, "teacher_cache": True}
    with pytest.raises(pydantic.ValidationError, match="augment: none"):
        HintonKDConfig.model_validate({**spec, "data": {"augment": "light"}})
    assert HintonKDConfig.model_validate({**spec, "data": {"augment": "none"}}).teacher_cache


def test_cached_kd_matches_live_kd_in_a_pipeline(tmp_path: Path) -> None:
    teacher = {"name": "teacher", "method": "supervised", "model": TINY_CNN}
    kd = {"method": "hinton_kd", "student": TINY_CNN, "teacher": {"from": "teacher"}, "data": {"augment": "none"}}
    stages = [teacher, {"name": "live", **kd}, {"name": "cached", **kd, "teacher_cache": True}]
    results = run_tiny(tmp_path, stages, epochs=3)
    assert results["cached"]["train_loss"] == pytest.approx(results["live"]["train_loss"], rel=1e-5)
    history = [json.loads((tmp_path / "run" / s / "history.json").read_text()) for s in ("live", "cached")]
    assert [h["kd"] for h in history[1]] == pytest.approx([h["kd"] for h in history[0]], rel=1e-5)
    assert (tmp_path / "run" / "cached" / "teacher_cache" / "values.npy").is_file()
