"""Pretext tasks: labels generated from known clips (reversed -> backward, rotated -> k, ...) and a training step."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from kd_helpers import classification_facts

from ssl_kd.config.schema import ModelSpec
from ssl_kd.methods.base import MethodEnv
from ssl_kd.methods.pretext_arrow import BACKWARD, FORWARD, play_direction
from ssl_kd.methods.pretext_order import chunk_frame_orders, permutations
from ssl_kd.methods.pretext_rotation import rotate_clips
from ssl_kd.methods.pretext_speed import sample_at_speed
from ssl_kd.methods.video_pretext import even_frames
from ssl_kd.models import build_model
from ssl_kd.registry import METHODS

TINY = {"arch": "r2plus1d", "options": {"width": 4}}


def known_videos(batch: int = 6, frames: int = 16) -> torch.Tensor:
    """Videos whose pixels all equal ``100 * video + frame``, so every output frame can be traced back."""
    ids = 100 * torch.arange(batch)[:, None] + torch.arange(frames)[None]
    return ids.float().view(batch, frames, 1, 1, 1).expand(-1, -1, 3, 8, 8).clone()


def frame_ids(clips: torch.Tensor) -> torch.Tensor:
    return clips[:, :, 0, 0, 0].long() % 100


def build(method: str, **keys: Any) -> Any:
    cls = METHODS.get(method)
    raw = {"name": "p", "kind": "train", "method": method, "model": TINY, "data": {"name": "video"}, **keys}
    cfg = cls.config_class.model_validate(raw)

    def load(spec: ModelSpec, num_classes: int | None) -> Any:
        return build_model(spec.arch, num_classes or 0, **spec.options)

    torch.manual_seed(0)
    return cls(cfg, MethodEnv(facts=classification_facts(8), load_model=load))


def test_reversed_clip_is_labelled_backward() -> None:
    method = build("pretext_arrow", data={"name": "video", "video": {"frames": 16}})
    videos = known_videos()
    torch.manual_seed(3)
    clips, labels = method.make_task(videos)
    forward = even_frames(videos, 8)
    assert set(labels.tolist()) == {FORWARD, BACKWARD}
    for clip, label, original in zip(clips, labels, forward, strict=True):
        expected = original.flip(0) if label == BACKWARD else original
        assert torch.equal(clip, expected)
    one = forward[:1]
    assert frame_ids(one).tolist() == [[0, 2, 4, 6, 9, 11, 13, 15]]  # 8 of 16 frames, evenly spread
    assert frame_ids(play_direction(one, torch.tensor([BACKWARD]))).tolist() == [[15, 13, 11, 9, 6, 4, 2, 0]]


def test_rotated_clip_is_labelled_with_its_quarter_turns() -> None:
    method = build("pretext_rotation", data={"name": "video", "video": {"frames": 16}})
    videos = torch.rand(8, 16, 3, 6, 6)
    torch.manual_seed(1)
    clips, labels = method.make_task(videos)
    assert set(labels.tolist()) <= {0, 1, 2, 3} and len(set(labels.tolist())) > 1
    for clip, label, original in zip(clips, labels, even_frames(videos, 8), strict=True):
        assert torch.equal(clip, torch.rot90(original, int(label), dims=(-2, -1)))
    single = torch.arange(4.0).view(1, 1, 1, 2, 2)  # [[0, 1], [2, 3]] -> 90 degrees ccw: [[1, 3], [0, 2]]
    assert rotate_clips(single, torch.tensor([1]))[0, 0, 0].tolist() == [[1.0, 3.0], [0.0, 2.0]]


def test_speed_label_is_the_frame_stride() -> None:
    method = build("pretext_speed", speeds=[1, 2], data={"name": "video", "video": {"frames": 16}})
    torch.manual_seed(2)
    clips, labels = method.make_task(known_videos(batch=12))
    ids = frame_ids(clips)
    steps = ids[:, 1:] - ids[:, :-1]
    for step, label in zip(steps, labels, strict=True):
        assert (step == [1, 2][int(label)]).all()
    assert (ids[:, -1] <= 15).all() and len(set(labels.tolist())) == 2
    fixed = sample_at_speed(known_videos(1), torch.tensor([2]), torch.tensor([1]), 4)
    assert frame_ids(fixed).tolist() == [[1, 3, 5, 7]]


def test_speed_needs_enough_frames() -> None:
    with pytest.raises(ValueError, match="frames >= 15"):
        build("pretext_speed", speeds=[1, 2], data={"name": "video", "video": {"frames": 8}})


@pytest.mark.parametrize("mode", ["permutation", "verification"])
def test_shuffled_chunks_match_the_label(mode: str) -> None:
    method = build("pretext_order", mode=mode, chunks=3, data={"name": "video", "video": {"frames": 8}})
    torch.manual_seed(4)
    clips, labels = method.make_task(known_videos(batch=16, frames=8))
    orders = chunk_frame_orders(8, permutations(3))
    assert orders[0].tolist() == list(range(8))  # identity first
    for ids, label in zip(frame_ids(clips), labels, strict=True):
        if mode == "permutation":
            assert ids.tolist() == orders[label].tolist()
        else:
            assert (ids.tolist() == list(range(8))) == (int(label) == 0)
    assert chunk_frame_orders(8, torch.tensor([[2, 0, 1]])).tolist() == [[6, 7, 0, 1, 2, 3, 4, 5]]


@pytest.mark.parametrize("method", ["pretext_rotation", "pretext_order", "pretext_speed", "pretext_arrow"])
def test_training_step_uses_no_labels_and_trains(method: str) -> None:
    task = build(method, data={"name": "video", "video": {"frames": 16}})
    assert not task.uses_labels
    videos = torch.randn(4, 16, 3, 16, 16)
    terms = task.training_step(videos, None)
    terms["pretext_ce"].backward()
    assert torch.isfinite(terms["pretext_ce"])
    assert task.output_model().num_classes == task.task_classes(task.cfg)
    assert all(p.grad is not None for p in task.output_model().classifier.parameters())
