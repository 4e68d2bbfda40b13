"""Clip decoding behind one small interface: pytorchvideo's ``EncodedVideo`` with decord, falling back to PyAV.

decord is the default decoder and is always opened with ``decode_audio=False`` (silent videos otherwise raise
"Can't find audio stream"); PyAV is the fallback when decord is missing or fails on a file, since decord is
reported to slow down and leak memory in DataLoader workers on long runs. torchvision's video reader is not used:
torchvision 0.29 no longer ships it. Clip windows come from pytorchvideo ``ClipSampler``s; the random one draws
from torch's default generator, which the loader seeds per sample, so training clips are reproducible.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from pytorchvideo.data.clip_sampling import ClipInfo, ClipSampler
from pytorchvideo.data.encoded_video import EncodedVideo
from torch import Tensor

DECODE_ERRORS = (RuntimeError, OSError, ValueError, ImportError, IndexError, EOFError)


class VideoDecodeError(RuntimeError):
    """No decoder could read a clip from a file."""


class SeededRandomClipSampler(ClipSampler):
    """A uniformly random clip window, drawn from torch's default generator (seeded per sample by the loader)."""

    def __call__(self, last_clip_time: float, video_duration: float, annotation: dict[str, Any]) -> ClipInfo:
        latest_start = max(Fraction(video_duration) - self._clip_duration, 0)
        start = latest_start * Fraction(torch.rand(()).item())
        return ClipInfo(start, start + self._clip_duration, 0, 0, True)


class CentreClipSampler(ClipSampler):
    """The clip window in the middle of the video (evaluation)."""

    def __call__(self, last_clip_time: float, video_duration: float, annotation: dict[str, Any]) -> ClipInfo:
        start = max(Fraction(video_duration) - self._clip_duration, 0) / 2
        return ClipInfo(start, start + self._clip_duration, 0, 0, True)


def make_clip_sampler(clip_seconds: float | None, training: bool) -> ClipSampler | None:
    """Random (training) or centre (evaluation) windows of ``clip_seconds``; None decodes whole videos."""
    if clip_seconds is None:
        return None
    duration = Fraction(clip_seconds).limit_denominator(1000)
    return SeededRandomClipSampler(duration) if training else CentreClipSampler(duration)


def uniform_indices(available: int, frames: int) -> Tensor:
    """``frames`` indices spread evenly over ``available`` frames (repeating frames of short clips)."""
    return torch.linspace(0, available - 1, frames).round().long()


def _decode_with(path: Path, decoder: str, sampler: ClipSampler | None) -> Tensor:
    video = EncodedVideo.from_path(str(path), decode_audio=False, decoder=decoder)
    try:
        duration = Fraction(video.duration)
        if sampler is None:
            start, end = Fraction(0), duration
        else:
            info = sampler(0.0, duration, {})
            start, end = info.clip_start_sec, min(info.clip_end_sec, duration)
        clip = video.get_clip(start, end)["video"]
    finally:
        video.close()
    if clip is None or clip.shape[1] == 0:
        raise VideoDecodeError(f"no frames between {float(start):.3f} s and {float(end):.3f} s")
    return clip


def decode_clip(path: Path, frames: int, decoder: str = "decord", sampler: ClipSampler | None = None) -> Tensor:
    """Decode a clip of ``frames`` evenly spaced frames as a uint8 ``(T, C, H, W)`` tensor.

    Args:
        path: the video file.
        frames: frames in the returned clip.
        decoder: ``decord`` (PyAV is tried when it fails) or ``pyav``.
        sampler: picks the time window; None: the whole video.

    Raises:
        VideoDecodeError: no decoder could read the file; the message names each decoder's error.
    """
    errors = []
    for name in dict.fromkeys((decoder, "pyav")):
        try:
            clip = _decode_with(path, name, sampler)
        except DECODE_ERRORS as err:
            errors.append(f"{name}: {type(err).__name__}: {str(err).strip()[:200]}")
            continue
        clip = clip[:, uniform_indices(clip.shape[1], frames)]
        return clip.permute(1, 0, 2, 3).round().clamp(0, 255).to(torch.uint8).contiguous()
    raise VideoDecodeError("; ".join(errors))
