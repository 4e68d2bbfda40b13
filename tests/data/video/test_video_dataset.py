"""The ``video`` dataset: clips through the resumable loader, truncated files skipped and counted, seeded windows."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from ssl_kd.config.schema import DataConfig
from ssl_kd.data import eval_loader, eval_transform, load_splits, train_loader, train_transform
from ssl_kd.data.loaders import Skipped, TransformedImages
from ssl_kd.data.video import dataset
from ssl_kd.data.video.decoding import VideoDecodeError, decode_clip
from ssl_kd.data.video.generator import EMBEDDED_SETTINGS, META_FILE, MovingDigitsConfig
from ssl_kd.errors import DataError


def video_config(root: Path, **video: object) -> DataConfig:
    return DataConfig(name="video", root=root, batch_size=4, eval_batch_size=8, video={"frames": 8, **video})


def truncated_copy(source: Path, target: Path) -> Path:
    """A copy of the tree whose first training file is cut to a third of its bytes; returns that file."""
    shutil.copytree(source, target)
    broken = target / "MoveLeft" / "v_MoveLeft_g01_c01.mp4"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])
    return broken


def test_splits_and_batches(tiny_videos: Path) -> None:
    splits = load_splits(video_config(tiny_videos))
    assert (len(splits.train), len(splits.test), splits.num_classes) == (16, 8, 8)
    assert splits.class_names[0] == "MoveLeft" and 0 < splits.mean[0] < 0.5
    transform = eval_transform(32, splits.mean, splits.std)
    clips, labels, skipped = next(iter(eval_loader(splits.test, transform, video_config(tiny_videos))))
    assert clips.shape == (8, 8, 3, 32, 32) and clips.dtype == torch.float32
    assert labels.tolist() == list(range(8)) and skipped == []


def test_truncated_file_is_skipped_and_named(tiny_videos: Path, tmp_path: Path) -> None:
    broken = truncated_copy(tiny_videos, tmp_path / "videos")
    with pytest.raises(VideoDecodeError, match=r"decord.*pyav"):
        decode_clip(broken, 8, "decord")
    cfg = video_config(tmp_path / "videos")
    splits = load_splits(cfg)
    loader, _ = train_loader(splits.train, train_transform(32, splits.mean, splits.std, "none"), cfg, seed=0)
    names, seen = [], 0
    for batch in loader:  # (clips, labels, skipped names, ...)
        names += batch[2]
        seen += len(batch[1])
    assert len(names) == 1 and str(broken) in names[0]
    assert seen == len(splits.train) - 1


def test_training_windows_follow_the_sample_seed_and_evaluation_uses_the_centre(tiny_videos: Path) -> None:
    splits = load_splits(video_config(tiny_videos, clip_seconds=1.0, frames=4))
    dataset = TransformedImages(splits.train, lambda clip: clip)
    first, again, other = dataset[(0, 5)][0], dataset[(0, 5)][0], dataset[(0, 6)][0]
    assert first.shape == (4, 3, 32, 32)
    assert torch.equal(first, again)
    starts = {int(dataset[(0, seed)][0].float().sum()) for seed in range(8)}
    assert len(starts) > 1 and not isinstance(other, Skipped)
    centre = dataset[0][0]  # unseeded (evaluation): the centre window, always
    assert torch.equal(centre, dataset[0][0])


def test_single_frame_baseline_repeats_the_middle_frame(tiny_videos: Path) -> None:
    clip = load_splits(video_config(tiny_videos, single_frame=True)).train[0][0].load()
    assert all(torch.equal(frame, clip[0]) for frame in clip)
    moving = load_splits(video_config(tiny_videos)).train[0][0].load()
    assert torch.equal(clip[0], moving[4]) and not torch.equal(moving[0], moving[-1])


def test_flips_are_refused(tiny_videos: Path) -> None:
    with pytest.raises(Exception, match="flips"):
        load_splits(DataConfig(name="video", root=tiny_videos, augment="standard"))


def test_video_keys_are_for_video_datasets_only() -> None:
    with pytest.raises(ValueError, match="only apply to video"):
        DataConfig(name="digits", split=2)
    assert "video" not in DataConfig().model_dump()


def test_default_root_made_with_other_settings_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clips from an earlier version's defaults would silently change every result; a matching folder is used."""
    root = tmp_path / "moving_digits"
    root.mkdir()
    monkeypatch.setitem(dataset.DEFAULT_ROOTS, "motion", root)
    settings = asdict(MovingDigitsConfig())
    (root / META_FILE).write_text(json.dumps({"generator": settings | {"noise": 0.3}}))
    with pytest.raises(DataError, match=r"noise 0.3 \(default 0.15\).*Delete it"):
        dataset.moving_digits_root(None)
    (root / META_FILE).write_text(json.dumps({"generator": settings}))
    assert dataset.moving_digits_root(None) == root
    assert dataset.moving_digits_root(tmp_path) == tmp_path  # a given root is read as it is


def test_profile_scheme_has_its_own_folder_and_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """data.video.moving_digits=profile reads its own default folder, checked against the profile settings; the
    motion folder's settings are refused there."""
    motion, profile = tmp_path / "motion", tmp_path / "profile"
    for scheme, root in (("motion", motion), ("profile", profile)):
        root.mkdir()
        monkeypatch.setitem(dataset.DEFAULT_ROOTS, scheme, root)
    (profile / META_FILE).write_text(json.dumps({"generator": asdict(MovingDigitsConfig())}))
    with pytest.raises(DataError, match=r"travel 12.0 \(default 14.0\).*classes motion \(default profile\)"):
        dataset.moving_digits_root(None, "profile")
    (profile / META_FILE).write_text(json.dumps({"generator": asdict(EMBEDDED_SETTINGS["profile"])}))
    assert dataset.moving_digits_root(None, "profile") == profile


def test_the_default_scheme_stays_out_of_dumps() -> None:
    """Fingerprints of runs from before data.video.moving_digits existed stay valid; the profile scheme is kept."""
    assert "moving_digits" not in DataConfig(name="video").model_dump()["video"]
    chosen = DataConfig(name="video", video={"moving_digits": "profile"}).model_dump()["video"]
    assert chosen["moving_digits"] == "profile"
    with pytest.raises(ValueError, match="moving_digits"):
        DataConfig(name="video", video={"moving_digits": "rotation"})
