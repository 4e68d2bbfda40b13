"""The moving-digits generator: UCF101 layout, real H.264 files that decord and PyAV both decode, determinism."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import av
import decord
import numpy as np
import pytest
import torch

from ssl_kd.cli import MOVING_DIGITS_SCHEMES, main
from ssl_kd.data.video.decoding import decode_clip
from ssl_kd.data.video.generator import (
    CLASS_SCHEMES,
    CLASSES,
    EMBEDDED_SETTINGS,
    META_FILE,
    PROFILE_CLASSES,
    MovingDigitsConfig,
    _digit_images,
    _profile_parameters,
    displacement_profile,
    grey_to_yuv420p,
    render_clip,
    write_mp4,
)
from ssl_kd.errors import DataError


def test_layout_matches_ucf101(tiny_videos: Path) -> None:
    class_lines = (tiny_videos / "classInd.txt").read_text().splitlines()
    assert class_lines == [f"{i + 1} {name}" for i, name in enumerate(CLASSES)]
    train = (tiny_videos / "trainlist01.txt").read_text().splitlines()
    test = (tiny_videos / "testlist01.txt").read_text().splitlines()
    assert len(train) == 2 * len(CLASSES) and len(test) == len(CLASSES)
    rel, label = train[0].split()
    assert rel == "MoveLeft/v_MoveLeft_g01_c01.mp4" and label == "1"
    assert all(len(line.split()) == 1 and (tiny_videos / line).is_file() for line in test)


@pytest.mark.parametrize("decoder", ["decord", "pyav"])
def test_both_decoders_read_every_frame(tiny_videos: Path, decoder: str) -> None:
    path = tiny_videos / "ZoomIn" / "v_ZoomIn_g01_c01.mp4"
    if decoder == "decord":
        frames = decord.VideoReader(str(path)).get_batch(list(range(16))).asnumpy()
        assert len(decord.VideoReader(str(path))) == 16
    else:
        with av.open(str(path)) as container:
            frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    assert frames.shape == (16, 32, 32, 3)
    clip = decode_clip(path, 16, decoder)
    assert clip.shape == (16, 3, 32, 32) and clip.dtype == torch.uint8
    assert clip.float().std() > 10  # not blank


def test_decoders_agree(tiny_videos: Path) -> None:
    path = tiny_videos / "MoveUp" / "v_MoveUp_g20_c01.mp4"
    diff = (decode_clip(path, 16, "decord").float() - decode_clip(path, 16, "pyav").float()).abs().mean()
    assert diff < 2.0  # same frames up to colour-conversion rounding


def test_rendering_is_deterministic_and_grey() -> None:
    cfg = MovingDigitsConfig(distractors=2)
    digits = _digit_images()[:20]
    first = render_clip(3, cfg, digits, np.random.default_rng(7))
    again = render_clip(3, cfg, digits, np.random.default_rng(7))
    other = render_clip(3, cfg, digits, np.random.default_rng(8))
    assert first.shape == (16, 32, 32) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_translation_moves_the_digit_left() -> None:
    cfg = MovingDigitsConfig(noise=0.0, distractors=0, speed_jitter=0.0, travel=8.0)
    frames = render_clip(CLASSES.index("MoveLeft"), cfg, _digit_images()[:1], np.random.default_rng(0))
    columns = torch.arange(32, dtype=torch.float64)
    # Circular mean of the column mass, so wrap-around does not matter.
    angle = 2 * torch.pi * columns / 32
    mass = torch.as_tensor(frames, dtype=torch.float64).sum(1)
    centre = torch.atan2((mass * angle.sin()).sum(1), (mass * angle.cos()).sum(1))
    step = torch.remainder(centre[1:] - centre[:-1] + torch.pi, 2 * torch.pi) - torch.pi
    assert (step < 0).all()  # every frame further left
    assert step[0] < step[-1]  # decelerating: the first step is the largest (most negative)


def test_displacement_profiles_known_values() -> None:
    u = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    expected = {
        "Decel": [-0.625, -0.28125, 0.0, 0.21875, 0.375],  # 1.5u - 0.5u^2 - 0.625
        "Const": [-0.5, -0.25, 0.0, 0.25, 0.5],
        "Oscil": [0.0, 0.5, 0.0, -0.5, 0.0],  # there and back: sin(2 pi u) / 2
        "StopGo": [-0.5, -0.125, 0.0, 0.125, 0.5],  # 1.5 min(u, 1/3) + 1.5 max(u - 2/3, 0) - 0.5
    }
    for name, values in expected.items():
        assert torch.allclose(displacement_profile(name, u), torch.tensor(values, dtype=torch.float64), atol=1e-12)
    rest = torch.linspace(1 / 3, 2 / 3, 5, dtype=torch.float64)
    assert torch.allclose(displacement_profile("StopGo", rest), torch.zeros(5, dtype=torch.float64))


def test_profile_classes_set_pace_and_shape_and_draw_the_direction() -> None:
    cfg = MovingDigitsConfig(classes="profile", speed_jitter=0.0, travel=10.0)
    headings = set()
    for seed in range(4):
        x, y, angle, scale = _profile_parameters(PROFILE_CLASSES.index("ConstFast"), cfg, np.random.default_rng(seed))
        dx, dy = float(x[-1] - x[0]), float(y[-1] - y[0])
        assert np.hypot(dx, dy) == pytest.approx(10.0 * 1.3, rel=1e-5)  # travel x the fast pace, any direction
        headings.add(round(np.arctan2(dy, dx), 3))
        assert (angle == angle[0]).all() and (scale == scale[0]).all()  # no rotation, no zoom
    assert len(headings) == 4  # the direction is a nuisance
    x, y, *_ = _profile_parameters(PROFILE_CLASSES.index("OscilSlow"), cfg, np.random.default_rng(0))
    assert float(x[-1] - x[0]) == pytest.approx(0.0, abs=1e-5) and float(y[-1] - y[0]) == pytest.approx(0.0, abs=1e-5)


def test_profile_scheme_writes_its_classes(tmp_path: Path) -> None:
    out = tmp_path / "profiles"
    args = ["data", "moving-digits", "--out", str(out), "--classes", "profile", "--train-per-class", "1"]
    assert main([*args, "--test-per-class", "1", "--travel", "9"]) == 0
    assert (out / "classInd.txt").read_text().split()[1::2] == list(PROFILE_CLASSES)
    assert len(list(out.rglob("*.mp4"))) == 2 * len(PROFILE_CLASSES)
    made = json.loads((out / META_FILE).read_text())["generator"]
    assert made == asdict(replace(EMBEDDED_SETTINGS["profile"], train_per_class=1, test_per_class=1, travel=9.0))
    assert set(MOVING_DIGITS_SCHEMES) == set(CLASS_SCHEMES)  # the CLI's --classes choices
    with pytest.raises(DataError, match=r"unknown classes 'speed'.*'motion', 'profile'"):
        MovingDigitsConfig(classes="speed")


def test_cli_generates_deterministically_and_refuses_to_overwrite(
    tiny_videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "md"
    assert main(["data", "moving-digits", "--out", str(out), "--train-per-class", "1", "--test-per-class", "1"]) == 0
    assert len(list(out.rglob("*.mp4"))) == 2 * len(CLASSES)
    first = "MoveLeft/v_MoveLeft_g01_c01.mp4"  # drawn first with the same seed in both trees: the same file
    assert (out / first).read_bytes() == (tiny_videos / first).read_bytes()
    assert str(out) in capsys.readouterr().out
    assert main(["data", "moving-digits", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_grey_to_yuv420p_is_bt601_limited_range() -> None:
    frame = np.array([[0, 255], [39, 128]], dtype=np.uint8)
    planes = grey_to_yuv420p(frame)
    assert planes.shape == (3, 2)
    assert planes[:2].tolist() == [[16, 235], [49, 126]]  # 16 + round(219 g / 255)
    assert planes[2].tolist() == [128, 128]  # U and V of a grey pixel
    with pytest.raises(ValueError, match="even"):
        grey_to_yuv420p(np.zeros((3, 2), dtype=np.uint8))


def test_write_mp4_gives_the_same_bytes_for_the_same_frames(tmp_path: Path) -> None:
    """x264's SIMD code made about 1 encode in 30 differ with the heap layout; the C code does not."""
    cfg = MovingDigitsConfig()
    frames = render_clip(0, cfg, _digit_images()[:5], np.random.default_rng(0))
    written = set()
    for index in range(40):
        ballast = [np.empty(int(size), dtype=np.uint8) for size in np.random.default_rng(index).integers(1, 5000, 50)]
        write_mp4(frames.copy(), tmp_path / "clip.mp4", cfg.fps)
        written.add((tmp_path / "clip.mp4").read_bytes())
        del ballast
    assert len(written) == 1
