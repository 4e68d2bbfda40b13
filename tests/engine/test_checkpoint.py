"""Atomic writes and weights_only loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_kd.engine.checkpoint import atomic_save, atomic_write_json, load_checkpoint
from ssl_kd.errors import SslKdError


class NotATensor:
    pass


def test_round_trip_and_no_temporary_left(tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "last.pt"
    atomic_save({"step": 3, "weights": torch.arange(4.0), "history": [{"loss": 1.0}]}, path)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 3 and torch.equal(loaded["weights"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_overwrite_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    atomic_save({"step": 1}, path)
    atomic_save({"step": 2}, path)
    assert load_checkpoint(path)["step"] == 2


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"payload": NotATensor()}, path)
    with pytest.raises(SslKdError, match="cannot be read"):
        load_checkpoint(path)


def test_torn_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "torn.pt"
    atomic_save({"weights": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SslKdError, match="cannot be read"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(SslKdError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")


def test_json_is_atomic_and_readable(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "m.json", {"a": 0.5})
    assert (tmp_path / "m.json").read_text().strip().startswith("{")
