"""``ssl-kd extract``: VISSL-style shards, resume after an interruption, and the eval entry points on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import eval.knn
import eval.linear_probe
from ssl_kd.cli import main
from ssl_kd.config.schema import DataConfig
from ssl_kd.errors import DataError
from ssl_kd.evaluation import shards
from ssl_kd.evaluation.extract import extract_to_shards
from ssl_kd.evaluation.features import load_features
from ssl_kd.evaluation.shards import load_shards, shard_path
from ssl_kd.export import load_stage

CHUNK = 100  # the digits test split has 450 images: chunks of 100, 100, 100, 100, 50


def test_shards_use_the_vissl_layout(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    extract_to_shards(tiny_run[1] / "distill", tmp_path, splits=["test"], chunk_size=CHUNK, progress=False)
    for kind in ("features", "targets", "inds"):
        assert (tmp_path / f"rank0_chunk4_test_features_{kind}.npy").is_file()
    assert np.load(shard_path(tmp_path, 4, "test", "features", "inds")).tolist() == list(range(400, 450))
    x, _, ids = load_shards(tmp_path, "test", "features")
    assert x.shape == (450, load_stage(tiny_run[1] / "distill").model.feature_dim)
    assert ids.tolist() == list(range(450))
    assert json.loads((tmp_path / "extraction.json").read_text())["num_samples"] == {"test": 450}


def test_extraction_resumes_after_an_interruption(
    tiny_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = tiny_run[1] / "distill"
    write_chunk = shards._write_chunk
    calls: list[int] = []

    def interrupted(*args, **kwargs) -> None:
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[3])
        write_chunk(*args, **kwargs)

    monkeypatch.setattr(shards, "_write_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_to_shards(stage, tmp_path, splits=["test"], chunk_size=CHUNK, progress=False)
    assert calls == [0, 1]
    with pytest.raises(DataError, match="incomplete"):
        load_shards(tmp_path, "test", "features")
    calls.clear()
    monkeypatch.setattr(shards, "_write_chunk", lambda *a, **k: (calls.append(a[3]), write_chunk(*a, **k)))
    written = extract_to_shards(stage, tmp_path, splits=["test"], chunk_size=CHUNK, progress=False)
    assert written == {"test": 3} and calls == [2, 3, 4]
    x, y, ids = load_shards(tmp_path, "test", "features")
    cached_x, cached_y = load_features(tiny_run[1] / "probe" / "features" / "features_test.npz")
    assert ids.tolist() == list(range(450)) and torch.equal(y, cached_y)
    torch.testing.assert_close(x, cached_x, atol=1e-5, rtol=1e-5)


def test_extraction_refuses_a_folder_with_other_settings(tmp_path: Path) -> None:
    shards.check_settings(tmp_path, {"layers": ["features"], "chunk_size": 100}, {"test": 450})
    shards.check_settings(tmp_path, {"layers": ["features"], "chunk_size": 100}, {"train": 30})
    assert json.loads((tmp_path / "extraction.json").read_text())["num_samples"] == {"test": 450, "train": 30}
    with pytest.raises(DataError, match=r"other settings \(chunk_size\)"):
        shards.check_settings(tmp_path, {"layers": ["features"], "chunk_size": 50}, {"test": 450})


def test_named_layers_are_pooled_and_flattened(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    layers = ["stage1", "features"]
    extract_to_shards(tiny_run[1] / "distill", tmp_path, splits=["test"], layers=layers, pool_size=2, progress=False)
    stage1, _, _ = load_shards(tmp_path, "test", "stage1")
    assert stage1.ndim == 2 and stage1.shape[0] == 450 and stage1.shape[1] % 4 == 0


def test_cli_extract_writes_shards(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    assert main(["extract", str(tiny_run[1] / "distill"), "--split", "test", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("rank0_chunk*_test_features_inds.npy"))) == 2  # 450 images, 256 per chunk


def test_eval_entry_points_read_shards(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    data = DataConfig(name="digits", train_per_class=3, augment="none")
    extract_to_shards(tiny_run[1] / "distill", tmp_path / "feats", data, progress=False)
    source = ["--features", str(tmp_path / "feats")]
    eval.linear_probe.main([*source, "--shots", "1", "--draws", "1", "--json", str(tmp_path / "linear.json")])
    eval.knn.main([*source, "--k", "5", "--backend", "torch", "--json", str(tmp_path / "knn.json")])
    linear, knn = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("linear", "knn"))
    assert {"linear_top1", "linear_top5", "linear_weight_decay"} <= set(linear)
    assert 0 < knn["knn_top1"] <= 1


def test_eval_directly_on_a_checkpoint(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "knn.json"
    eval.knn.main(["--checkpoint", str(tiny_run[1] / "distill"), "--k", "5", "--backend", "torch", "--json", str(out)])
    assert 0 < json.loads(out.read_text())["knn_top1"] <= 1


def test_eval_needs_exactly_one_feature_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = eval.run(eval.knn.main, ["--features", str(tmp_path), "--checkpoint", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "exactly one feature source" in err
