"""Moving digits: short H.264 clips of scikit-learn digits whose *motion pattern* is the class.

Each clip shows one digit (8x8 scikit-learn image, upsampled) on a dark, toroidal canvas (it wraps around the
edges). The digit's position, tilt and scale at the middle frame are drawn from the same distribution for every
class, so the middle frame carries no information about the label; the class says which one of (x, y, angle,
log-scale) changes over time and in which direction. The digit identity is a nuisance. Motion decelerates
(velocity falls linearly from 1.5x to 0.5x of its mean), so the arrow of time is visible and a reversed "left" clip is
not a plain "right" clip.

With ``classes="profile"`` the class is instead the motion's *profile and speed* (decelerating, constant,
oscillating or stop-and-go; slow or fast) of a translation in a uniformly random direction, so the direction is a
nuisance too. Those classes depend on what the pretext tasks (arrow of time, playback speed, clip order) must see;
the default ``"motion"`` classes depend on the direction, which none of them needs.

Difficulty knobs: ``speed_jitter`` (per-clip speed factor drawn from 1 +- jitter), ``noise`` (per-frame Gaussian
pixel noise, std in 0..1 units), ``distractors`` (extra dimmer digits drifting in random directions).

Files are real H.264 ``.mp4`` (PyAV, libx264, yuv420p) in the UCF101 layout: ``<root>/<Class>/v_<Class>_gXX_cYY.mp4``
plus ``classInd.txt``, ``trainlist01.txt`` and ``testlist01.txt``; ``meta.json`` records the generator settings and
the training-set pixel mean and std. Everything is a function of ``seed`` [reconstruction, docs/methods/video_graph.md].
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from ssl_kd.errors import DataError

CLASSES = ("MoveLeft", "MoveRight", "MoveUp", "MoveDown", "RotateCW", "RotateCCW", "ZoomIn", "ZoomOut")
PROFILE_SHAPES = {  # displacement over clip time u in [0, 1], in units of ``travel`` (see displacement_profile)
    "Decel": lambda u: 1.5 * u - 0.5 * u**2,
    "Const": lambda u: u,
    "Oscil": lambda u: 0.5 * torch.sin(2 * math.pi * u),
    "StopGo": lambda u: 1.5 * u.clamp(max=1 / 3) + 1.5 * (u - 2 / 3).clamp(min=0),
}
PROFILE_SPEEDS = {"Slow": 0.7, "Fast": 1.3}
_PROFILE_OF = {f"{shape}{pace}": (shape, pace) for shape in PROFILE_SHAPES for pace in PROFILE_SPEEDS}
PROFILE_CLASSES = tuple(_PROFILE_OF)
CLASS_SCHEMES = {"motion": CLASSES, "profile": PROFILE_CLASSES}
META_FILE = "meta.json"
# Per class: which motion parameter changes (x, y, angle, log-scale) and its sign.
_MOTION = {
    "MoveLeft": (0, -1.0),
    "MoveRight": (0, 1.0),
    "MoveUp": (1, -1.0),
    "MoveDown": (1, 1.0),
    "RotateCW": (2, 1.0),
    "RotateCCW": (2, -1.0),
    "ZoomIn": (3, 1.0),
    "ZoomOut": (3, -1.0),
}


@dataclass(frozen=True)
class MovingDigitsConfig:
    """Generator settings; the defaults are the embedded motion-class clips (``data/moving_digits``), and
    :data:`EMBEDDED_SETTINGS` names the settings of each embedded class scheme.

    Attributes:
        train_per_class: training videos per class.
        test_per_class: test videos per class.
        frames: frames per video.
        size: canvas side in pixels.
        fps: frame rate written into the files.
        digit_size: side of the digit at scale 1, in pixels.
        travel: translation over the whole clip, in pixels (mean speed).
        rotation: rotation over the whole clip, in degrees.
        zoom: scale ratio between the last and the first frame of a zoom clip.
        classes: ``"motion"`` (which parameter changes, in which direction) or ``"profile"`` (how a translation
            in a random direction unfolds over time, and how fast); see the module docstring.
        tilt: the digit's angle at the middle frame is uniform in [-tilt, tilt] degrees (near upright, so that
            rotation prediction is a learnable pretext task).
        speed_jitter: per-clip speed factor drawn uniformly from [1 - jitter, 1 + jitter].
        noise: std of per-frame Gaussian pixel noise (0..1 units).
        distractors: number of dimmer distractor digits drifting in random directions.
        seed: the random seed; the output is a function of the settings.
    """

    train_per_class: int = 100
    test_per_class: int = 40
    frames: int = 16
    size: int = 32
    fps: int = 8
    digit_size: int = 14
    travel: float = 12.0
    rotation: float = 120.0
    zoom: float = 1.8
    tilt: float = 25.0
    speed_jitter: float = 0.3
    noise: float = 0.15
    distractors: int = 1
    classes: str = "motion"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.classes not in CLASS_SCHEMES:
            raise DataError(f"moving digits: unknown classes {self.classes!r}; choose from {sorted(CLASS_SCHEMES)}")


EMBEDDED_SETTINGS = {
    "motion": MovingDigitsConfig(),
    # Faster travel (14 px) than the motion classes: pace is half of each profile class.
    "profile": MovingDigitsConfig(classes="profile", travel=14.0),
}
"""Settings of the embedded moving digits per class scheme (``data.video.moving_digits``); the profile clips are
those of ``benchmarks/video_graph.py`` and ``pipelines/video_graph_digits.yaml``."""


def _profile(frames: int) -> torch.Tensor:
    """Decelerating displacement g(u) = 1.5u - 0.5u^2 over u in [0, 1], centred on u = 1/2, at ``frames`` times."""
    return displacement_profile("Decel", torch.linspace(0, 1, frames, dtype=torch.float64)).float()


def render_digit(
    digit: torch.Tensor, x: torch.Tensor, y: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor, size: int
) -> torch.Tensor:
    """Render one digit per frame on a toroidal ``size x size`` canvas.

    Args:
        digit: ``(h, w)`` image in 0..1.
        x: per-frame centre column (pixels), shape ``(T,)``.
        y: per-frame centre row (pixels), shape ``(T,)``.
        angle: per-frame rotation in radians (clockwise on screen), ``(T,)``.
        scale: per-frame side of the digit in pixels, ``(T,)``.
        size: canvas side.

    Returns:
        ``(T, size, size)`` frames in 0..1.
    """
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    # Wrapped offset of every canvas pixel from the digit centre, in [-size/2, size/2).
    dx = torch.remainder(cols[None] - x[:, None, None] + size / 2, size) - size / 2
    dy = torch.remainder(rows[None] - y[:, None, None] + size / 2, size) - size / 2
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    half = (scale / 2)[:, None, None]
    # Inverse rotation into digit coordinates, normalised to [-1, 1] for grid_sample.
    u = (cos * dx + sin * dy) / half
    v = (-sin * dx + cos * dy) / half
    grid = torch.stack([u, v], dim=-1)
    image = digit[None, None].expand(len(x), 1, *digit.shape)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]


def _motion_parameters(label: int, cfg: MovingDigitsConfig, rng: np.random.Generator) -> list[torch.Tensor]:
    """Per-frame (x, y, angle, scale) of the target digit of class ``label``."""
    speed = 1.0 + rng.uniform(-cfg.speed_jitter, cfg.speed_jitter)
    g = _profile(cfg.frames)
    base = [
        torch.full((cfg.frames,), rng.uniform(0, cfg.size)),
        torch.full((cfg.frames,), rng.uniform(0, cfg.size)),
        torch.full((cfg.frames,), math.radians(rng.uniform(-cfg.tilt, cfg.tilt))),
        torch.full((cfg.frames,), rng.uniform(math.log(0.75), math.log(1.3))),
    ]
    extent = (cfg.travel, cfg.travel, math.radians(cfg.rotation), math.log(cfg.zoom))
    which, sign = _MOTION[CLASSES[label]]
    base[which] = base[which] + sign * speed * extent[which] * g
    x, y, angle, log_scale = base
    return [x, y, angle, cfg.digit_size * torch.exp(log_scale)]


def displacement_profile(name: str, u: torch.Tensor) -> torch.Tensor:
    """Displacement (in units of ``travel``) at clip times ``u`` in [0, 1] for the profile ``name``, minus its value
    at u = 1/2, so the middle of every clip sits at the drawn position.

    Decel: 1.5u - 0.5u^2 (the motion classes' profile too); Const: u; Oscil: sin(2 pi u) / 2 (there and back); StopGo:
    moves at speed 1.5 for the first third, rests for the second, moves again for the last (1.5 min(u, 1/3) +
    1.5 max(u - 2/3, 0)).
    """
    shape = PROFILE_SHAPES[name]
    return shape(u) - shape(torch.tensor(0.5, dtype=u.dtype))


def _profile_parameters(label: int, cfg: MovingDigitsConfig, rng: np.random.Generator) -> list[torch.Tensor]:
    """Per-frame (x, y, angle, scale) of the target digit of profile class ``label``: a translation in a uniformly
    random direction whose displacement follows :func:`displacement_profile`."""
    profile, pace = _PROFILE_OF[PROFILE_CLASSES[label]]
    speed = PROFILE_SPEEDS[pace] * (1.0 + rng.uniform(-cfg.speed_jitter, cfg.speed_jitter))
    travel = cfg.travel * speed * displacement_profile(profile, torch.linspace(0, 1, cfg.frames, dtype=torch.float64))
    heading = rng.uniform(0, 2 * math.pi)
    x = rng.uniform(0, cfg.size) + math.cos(heading) * travel.float()
    y = rng.uniform(0, cfg.size) + math.sin(heading) * travel.float()
    angle = torch.full((cfg.frames,), math.radians(rng.uniform(-cfg.tilt, cfg.tilt)))
    scale = torch.full((cfg.frames,), cfg.digit_size * math.exp(rng.uniform(math.log(0.75), math.log(1.3))))
    return [x, y, angle, scale]


def render_clip(label: int, cfg: MovingDigitsConfig, digits: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
    """One clip of class ``label`` (of ``cfg.classes``): uint8 ``(T, size, size)`` grey frames."""
    target = digits[rng.integers(len(digits))]
    parameters = _profile_parameters if cfg.classes == "profile" else _motion_parameters
    frames = render_digit(target, *parameters(label, cfg, rng), cfg.size)
    g = _profile(cfg.frames)
    for _ in range(cfg.distractors):
        other = digits[rng.integers(len(digits))]
        heading = rng.uniform(0, 2 * math.pi)
        travel = cfg.travel * rng.uniform(0.3, 1.0)
        x = rng.uniform(0, cfg.size) + math.cos(heading) * travel * g
        y = rng.uniform(0, cfg.size) + math.sin(heading) * travel * g
        angle = torch.full((cfg.frames,), math.radians(rng.uniform(-cfg.tilt, cfg.tilt)))
        scale = torch.full((cfg.frames,), cfg.digit_size * rng.uniform(0.6, 0.9))
        frames = torch.maximum(frames, 0.5 * render_digit(other, x, y, angle, scale, cfg.size))
    noise = torch.from_numpy(rng.normal(0.0, cfg.noise, frames.shape)).float() if cfg.noise else 0.0
    return ((frames + noise).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def grey_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """A uint8 grey ``(H, W)`` frame as yuv420p planes ``(H * 3 / 2, W)``: BT.601 limited range, neutral chroma.

    Y = 16 + round(219 g / 255) and U = V = 128, in integers (219 g / 255 never ends in exactly .5).
    """
    height, width = frame.shape
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs an even frame size, got {height} x {width}")
    luma = ((219 * frame.astype(np.int32) + 127) // 255 + 16).astype(np.uint8)
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)  # the U plane, then the V plane, each (H/2, W/2)
    return np.concatenate([luma, chroma], axis=0)


def write_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """Write uint8 grey ``(T, H, W)`` frames as an H.264 ``.mp4`` (PyAV, libx264, yuv420p), reproducibly.

    The same frames always give the same file, in any process and whatever SIMD extensions the CPU has: x264 runs
    its C code (``asm=0``) on a single thread, and the grey -> yuv420p conversion is done here rather than by
    swscale. With x264's SIMD code, about 1 encode in 30 came out different (a few grey levels here and there)
    depending on the process's heap layout, and SIMD paths differ between CPUs. The C code costs nothing noticeable
    on 32 x 32 clips.
    """
    if frames.ndim != 3:
        raise ValueError(f"write_mp4 takes grey (T, H, W) frames, got shape {frames.shape}")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast", "bf": "0", "threads": "1", "x264-params": "asm=0"}
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(grey_to_yuv420p(frame), format="yuv420p")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode())


def _digit_images() -> torch.Tensor:
    """The 1,797 scikit-learn digits as float ``(N, 16, 16)`` images in 0..1."""
    from sklearn.datasets import load_digits  # here, not at import: the CLI starts 2 s faster

    images = torch.as_tensor(load_digits().images, dtype=torch.float32)[:, None] / 16.0
    return F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False)[:, 0].clamp(0, 1)


def generate_moving_digits(out: Path, cfg: MovingDigitsConfig = MovingDigitsConfig()) -> Path:
    """Write the moving-digits dataset to ``out`` (built in a temporary folder, then renamed).

    Training clips use the first 1,347 digits of a fixed shuffle and test clips the rest, so no digit image is
    shared between the splits.

    Raises:
        DataError: ``out`` already exists.
    """
    out = Path(out)
    if out.exists():
        raise DataError(f"moving digits: {out} already exists; delete it or choose another --out")
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(cfg.seed)
    digits = _digit_images()[torch.from_numpy(rng.permutation(1797))]
    pools = {"train": digits[:1347], "test": digits[1347:]}
    counts = {"train": cfg.train_per_class, "test": cfg.test_per_class}
    lists: dict[str, list[str]] = {"train": [], "test": []}
    pixels = []
    classes = CLASS_SCHEMES[cfg.classes]
    for label, name in enumerate(classes):
        (tmp / name).mkdir(parents=True)
        for split, group in (("train", 1), ("test", 20)):  # UCF101-style groups: train g01..g19, test g20+
            for index in range(counts[split]):
                frames = render_clip(label, cfg, pools[split], rng)
                rel = f"{name}/v_{name}_g{group + index // 25:02d}_c{index % 25 + 1:02d}.mp4"
                write_mp4(frames, tmp / rel, cfg.fps)
                lists[split].append(f"{rel} {label + 1}" if split == "train" else rel)
                if split == "train":
                    pixels.append(frames.mean() / 255)
    (tmp / "classInd.txt").write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(classes)))
    (tmp / "trainlist01.txt").write_text("".join(f"{line}\n" for line in lists["train"]))
    (tmp / "testlist01.txt").write_text("".join(f"{line}\n" for line in lists["test"]))
    mean = float(np.mean(pixels))
    meta = {"generator": asdict(cfg), "classes": list(classes), "mean": mean, "std": _pixel_std(tmp, lists, mean)}
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    tmp.rename(out)
    return out


def _pixel_std(root: Path, lists: dict[str, list[str]], mean: float) -> float:
    """Pixel std of (up to 64) decoded training clips, for normalisation."""
    values = []
    for line in lists["train"][:: max(1, len(lists["train"]) // 64)]:
        with av.open(str(root / line.split()[0])) as container:
            values += [frame.to_ndarray(format="gray").astype(np.float64) / 255 for frame in container.decode(video=0)]
    return float(np.sqrt(np.mean((np.stack(values) - mean) ** 2)))
