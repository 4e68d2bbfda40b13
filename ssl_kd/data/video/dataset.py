"""The ``video`` dataset: clips decoded lazily in the loader, one clip per video and step.

``data.root`` unset means the embedded moving digits (:mod:`ssl_kd.data.video.generator`) under the working
directory, generated there (about 15 s) when missing: ``data/moving_digits`` (motion classes) or, with
``data.video.moving_digits=profile``, ``data/moving_digits_profile`` (motion-profile classes). Otherwise
``data.root`` is a local copy of UCF101, HMDB51, a Kinetics-style CSV dataset or a class-folder tree
(``data.format``, ``data.split``).

Samples are :class:`VideoClip` references; the loader calls :meth:`VideoClip.load` inside its per-sample seeded
region (``augment=True`` for training samples, which get random clip windows; evaluation gets centre windows), so
random clip windows are reproducible, and a file that no decoder can read is skipped, counted and named
in the stage's log and metrics instead of stopping the run. Clips come out as ``tv_tensors.Video`` ``(T, C, H, W)``
uint8, so the stage's ``torchvision.transforms.v2`` pipeline resizes, crops and normalises every frame alike; video
models take ``(B, T, C, H, W)`` batches. Deterministic windows (whole videos, centre clips) are cached in memory
per process when ``data.video.cache`` is on; meant for the tiny embedded data (1,120 clips of 16 x 32 x 32 RGB are
about 55 MB).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torchvision import tv_tensors

from ssl_kd.data.base import ImageSplits, register_dataset
from ssl_kd.data.video.decoding import decode_clip, make_clip_sampler
from ssl_kd.data.video.generator import EMBEDDED_SETTINGS, META_FILE, generate_moving_digits
from ssl_kd.data.video.layouts import parse_layout
from ssl_kd.errors import DataError

DEFAULT_ROOTS = {"motion": Path("data/moving_digits"), "profile": Path("data/moving_digits_profile")}
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)
log = logging.getLogger("ssl_kd")


class VideoClip:
    """A lazily decoded clip of one video file; ``str(clip)`` is the file path.

    Args:
        path: the video file.
        options: the dataset's ``data.video`` options (frames, clip_seconds, decoder, cache, single_frame).
        cache: a dict shared by the split's clips to keep deterministic (non-augmented) clips in.
    """

    def __init__(self, path: Path, options: Any, cache: dict[Path, Any]) -> None:
        self.path = path
        self.options = options
        self.cache = cache

    def __str__(self) -> str:
        return str(self.path)

    def load(self, augment: bool = False) -> tv_tensors.Video:
        """Decode the clip: a random window when ``augment`` (training, under the sample's seed), else the centre
        window; whole videos when ``data.video.clip_seconds`` is unset. Deterministic clips are cached if enabled."""
        random_window = augment and self.options.clip_seconds is not None
        cacheable = self.options.cache and not random_window
        if cacheable and self.path in self.cache:
            return self.cache[self.path]
        sampler = make_clip_sampler(self.options.clip_seconds, training=random_window)
        clip = decode_clip(self.path, self.options.frames, self.options.decoder, sampler)
        if self.options.single_frame:
            clip = clip[len(clip) // 2].expand_as(clip)
        clip = tv_tensors.Video(clip)
        if cacheable:
            self.cache[self.path] = clip
        return clip


class VideoClips:
    """An image source (see :class:`ssl_kd.data.base.ImageSource`) over video files: ``clips[i] -> (clip, label)``."""

    def __init__(self, entries: list[tuple[Path, int]], options: Any) -> None:
        store: dict[Path, Any] = {}
        self.clips = [VideoClip(path, options, store) for path, _ in entries]
        self.targets = [label for _, label in entries]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[VideoClip, int]:
        return self.clips[index], self.targets[index]


def moving_digits_root(root: Path | None, scheme: str = "motion") -> Path:
    """``root``, or the default folder of the embedded moving digits with class ``scheme`` (``motion`` or
    ``profile``), generated with that scheme's settings (:data:`EMBEDDED_SETTINGS`) when missing.

    Raises:
        DataError: the default folder exists but was made with other settings (custom ones, or an earlier
            version's defaults), which would silently change every result.
    """
    if root is not None:
        return Path(root)
    default_root, settings = DEFAULT_ROOTS[scheme], EMBEDDED_SETTINGS[scheme]
    meta = default_root / META_FILE
    if meta.is_file():
        made = json.loads(meta.read_text()).get("generator", {})
        changed = [
            f"{key} {made.get(key)} (default {value})"
            for key, value in asdict(settings).items()
            if made.get(key, value) != value  # a setting added after the folder was made has its default
        ]
        if changed:
            raise DataError(
                f"{default_root} was generated with other settings than the defaults: {', '.join(changed)}. "
                f"Delete it to regenerate it with the defaults, or pass data.root={default_root} to use it as it is"
            )
    else:
        log.info("generating the moving-digits clips (%s classes) in %s (about 15 s)", scheme, default_root)
        generate_moving_digits(default_root, settings)
    return default_root


def _normalisation(root: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Moving digits record their pixel mean and std in ``meta.json``; other datasets use Kinetics' values."""
    meta = root / META_FILE
    if meta.is_file():
        values = json.loads(meta.read_text())
        return (values["mean"],) * 3, (values["std"],) * 3
    return KINETICS_MEAN, KINETICS_STD


@register_dataset("video", requires_root=False, video=True)
def build_video(root: Path | None, image_size: int, data: Any) -> ImageSplits:
    """Video clips: UCF101 / HMDB51 / CSV / class folders under data.root, or the embedded moving digits."""
    if data.augment == "standard":
        raise DataError("data.augment=standard flips frames, which swaps left and right motion; use light or none")
    root = moving_digits_root(root, data.video.moving_digits)
    index = parse_layout(root, data.format, data.split)
    mean, std = _normalisation(root)
    return ImageSplits(
        train=VideoClips(index.train, data.video),
        test=VideoClips(index.test, data.video),
        num_classes=len(index.classes),
        mean=mean,
        std=std,
        class_names=index.classes,
    )
