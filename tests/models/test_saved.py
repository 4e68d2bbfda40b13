"""The one model file (``model.pt``): saved with its spec and metadata, rebuilt by the one loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_kd.engine.checkpoint import save_model
from ssl_kd.models import build_model
from ssl_kd.models.saved import MODEL_FILE, MissingModelError, load_saved_model


def test_saved_model_is_rebuilt_with_its_weights_and_metadata(tmp_path: Path) -> None:
    model = build_model("alexnet", 10, width=0.25, fc_dim=32)
    save_model(tmp_path / "stage" / MODEL_FILE, model, model.spec(), dataset="digits", image_size=32)
    loaded, meta = load_saved_model(tmp_path / "stage")
    assert meta == {"dataset": "digits", "image_size": 32}
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_a_missing_model_names_the_stages_that_have_one(tmp_path: Path) -> None:
    model = build_model("alexnet", 10, width=0.25, fc_dim=32)
    save_model(tmp_path / "teacher" / MODEL_FILE, model, model.spec())
    (tmp_path / "probe").mkdir()
    with pytest.raises(MissingModelError, match=r"probe has no model.pt .*stages with one: .*teacher"):
        load_saved_model(tmp_path / "probe")
    with pytest.raises(MissingModelError, match="does not exist"):
        load_saved_model(tmp_path / "nothing")
