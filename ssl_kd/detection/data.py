"""Detection data: the embedded digit canvases and COCO-format datasets, as sources of (image, boxes, labels).

**Digit canvases** (``digits_detection``): scikit-learn's 1,797 handwritten digits pasted onto dark square canvases,
several per canvas at varied scales and positions, overlapping a little, among clutter (unlabelled fragments of
other digits) and pixel noise. A digit's box is the tight box of its pasted non-zero pixels (pixel edges, xyxy);
labels are ``digit + 1`` (0 is background). Training canvases use 1,347 digit images of a fixed shuffle and test
canvases the other 450, so no digit image is shared between the splits. The canvases are a function of
:class:`DigitCanvasSettings`; they are generated when missing (a few seconds) and cached as one tensor file per
settings in ``data/digits_detection/`` (or ``data.root``).

**COCO format** (``coco``): an image folder and an instances JSON read with pycocotools. Each image is resized so
its longer side is ``image_size`` and padded (bottom, right) to a square, boxes scaled alike. Boxes are clipped to
their image; boxes that are degenerate (no area after clipping) or marked crowd are dropped, and counted.
Undecodable images are skipped when read and named in the batch (the Trainer counts and logs them); a JSON that does
not parse is one error naming the file, line and column.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2.functional import pil_to_tensor

from ssl_kd.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("data/digits_detection")
DIGIT_CLASSES = tuple(str(d) for d in range(10))
TRAIN_DIGITS = 1347
"""Digit images of the fixed shuffle that training canvases draw from; test canvases use the other 450."""
INK_THRESHOLD = 0.1
"""Pixels of a resized digit below this (0..1) are set to zero, so its box is the tight box of what is drawn."""


class DetectionSource(Protocol):
    """Images with boxes, indexed ``0..len - 1``: what the loaders and the evaluation read."""

    image_size: int

    def __len__(self) -> int: ...

    def name(self, index: int) -> str:
        """The sample's name in logs and skipped lists (a file path, or ``canvas N``)."""
        ...

    def targets(self, index: int) -> tuple[Tensor, Tensor]:
        """The sample's boxes ``(N, 4)`` xyxy pixels of the square image and labels ``(N,)``, without decoding."""
        ...

    def load(self, index: int) -> Tensor:
        """The sample's ``(3, S, S)`` uint8 image (raises ``OSError`` or ``ValueError`` when undecodable)."""
        ...


@dataclass
class DetectionSplits:
    """A detection dataset's train and test sources, class names, and what was dropped while reading.

    Attributes:
        train: training images.
        test: test images.
        class_names: name of label ``k`` at index ``k - 1``.
        dropped: counts of annotations left out, by reason and split (e.g. ``{"train_degenerate_boxes": 2}``).
    """

    train: DetectionSource
    test: DetectionSource
    class_names: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)


# --- digit canvases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigitCanvasSettings:
    """Generator settings of the digit canvases; the output is a function of them.

    Attributes:
        train_canvases: training canvases.
        test_canvases: test canvases.
        size: canvas side in pixels.
        min_digits: fewest labelled digits per canvas.
        max_digits: most labelled digits per canvas.
        min_height: smallest digit height as a fraction of ``size``.
        max_height: largest digit height as a fraction of ``size``.
        max_iou: largest IoU between two labelled digits' boxes (placements above it are redrawn).
        clutter: most unlabelled digit fragments per canvas (0 .. clutter, uniform).
        noise: std of the Gaussian pixel noise (0..1 units).
        seed: the random seed.
    """

    train_canvases: int = 2000
    test_canvases: int = 400
    size: int = 96
    min_digits: int = 2
    max_digits: int = 5
    min_height: float = 0.15
    max_height: float = 0.45
    max_iou: float = 0.3
    clutter: int = 2
    noise: float = 0.06
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_digits <= self.max_digits:
            raise DataError(
                f"digit canvases: need 1 <= min_digits <= max_digits, got {self.min_digits}, {self.max_digits}"
            )
        if not 0 < self.min_height <= self.max_height <= 1:
            raise DataError(
                f"digit canvases: need 0 < min_height <= max_height <= 1, got {self.min_height}, {self.max_height}"
            )

    def key(self) -> str:
        """A short hash of the settings: the cache file's name."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@cache
def digit_glyphs() -> tuple[tuple[Tensor, ...], Tensor]:
    """The 1,797 scikit-learn digits cropped to their non-zero pixels (float 0..1, each ``(h, w)``) and labels
    (read once per process; callers must not modify them)."""
    from sklearn.datasets import load_digits  # here, not at import: the CLI starts 2 s faster

    digits = load_digits()
    glyphs = []
    for image in torch.as_tensor(digits.images, dtype=torch.float32) / 16.0:
        rows, cols = image.amax(1) > 0, image.amax(0) > 0
        r, c = rows.nonzero()[:, 0], cols.nonzero()[:, 0]
        glyphs.append(image[r[0] : r[-1] + 1, c[0] : c[-1] + 1])
    return tuple(glyphs), torch.as_tensor(digits.target, dtype=torch.int64)


def render_glyph(glyph: Tensor, height: int, width: int) -> Tensor:
    """``glyph`` resized to ``(height, width)`` (bilinear), with faint pixels (< INK_THRESHOLD) set to zero."""
    patch = F.interpolate(glyph[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    return torch.where(patch < INK_THRESHOLD, torch.zeros(()), patch.clamp(0, 1))


def ink_box(patch: Tensor, x: int, y: int) -> Tensor | None:
    """The tight xyxy box (pixel edges) of ``patch``'s non-zero pixels pasted at ``(x, y)``; None if blank."""
    rows, cols = (patch.amax(1) > 0).nonzero()[:, 0], (patch.amax(0) > 0).nonzero()[:, 0]
    if not len(rows):
        return None
    return torch.tensor([x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1], dtype=torch.float32)


def _iou(box: Tensor, boxes: list[Tensor]) -> float:
    if not boxes:
        return 0.0
    others = torch.stack(boxes)
    lo, hi = torch.maximum(others[:, :2], box[:2]), torch.minimum(others[:, 2:], box[2:])
    inter = (hi - lo).clamp(min=0).prod(1)
    areas = (others[:, 2:] - others[:, :2]).prod(1)
    return float((inter / (areas + (box[2:] - box[:2]).prod() - inter)).max())


def render_canvas(
    settings: DigitCanvasSettings, glyphs: Sequence[Tensor], labels: Tensor, rng: np.random.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """One canvas: ``(size, size)`` float 0..1, its digits' boxes ``(N, 4)`` and labels ``(N,)`` (digit + 1).

    Digits and fragments are composited by maximum, so a digit's pixels stay where no brighter one covers them.
    """
    size = settings.size
    canvas = torch.zeros(size, size)
    boxes: list[Tensor] = []
    classes: list[int] = []

    def scaled(index: int) -> tuple[Tensor, int, int]:
        glyph = glyphs[index]
        height = max(2, round(size * rng.uniform(settings.min_height, settings.max_height)))
        width = max(2, min(size, round(height * glyph.shape[1] / glyph.shape[0])))
        return render_glyph(glyph, height, width) * rng.uniform(0.6, 1.0), height, width

    for _ in range(int(rng.integers(0, settings.clutter + 1))):  # fragments: a random part of a random digit
        patch, height, width = scaled(int(rng.integers(len(glyphs))))
        keep = rng.uniform(0.35, 0.6)
        side = int(rng.integers(4))
        rows, cols = slice(None), slice(None)
        if side == 0:
            rows = slice(0, max(1, round(height * keep)))
        elif side == 1:
            rows = slice(height - max(1, round(height * keep)), None)
        elif side == 2:
            cols = slice(0, max(1, round(width * keep)))
        else:
            cols = slice(width - max(1, round(width * keep)), None)
        patch = patch[rows, cols]
        y, x = int(rng.integers(0, size - patch.shape[0] + 1)), int(rng.integers(0, size - patch.shape[1] + 1))
        region = canvas[y : y + patch.shape[0], x : x + patch.shape[1]]
        torch.maximum(region, patch, out=region)
    for _ in range(int(rng.integers(settings.min_digits, settings.max_digits + 1))):
        index = int(rng.integers(len(glyphs)))
        patch, height, width = scaled(index)
        for _attempt in range(20):
            y, x = int(rng.integers(0, size - height + 1)), int(rng.integers(0, size - width + 1))
            box = ink_box(patch, x, y)
            if box is not None and _iou(box, boxes) <= settings.max_iou:
                break
        else:
            continue
        region = canvas[y : y + height, x : x + width]
        torch.maximum(region, patch, out=region)
        boxes.append(box)
        classes.append(int(labels[index]) + 1)
    if settings.noise:
        canvas = (canvas + torch.from_numpy(rng.normal(0, settings.noise, (size, size))).float()).clamp(0, 1)
    box_tensor = torch.stack(boxes) if boxes else torch.zeros(0, 4)
    return canvas, box_tensor, torch.as_tensor(classes, dtype=torch.int64)


def digit_pools(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """Indices of the ``count`` digit images that training and test canvases draw from: the first ``rng`` draw of
    a canvas generator, a permutation split after :data:`TRAIN_DIGITS`."""
    order = rng.permutation(count)
    return {"train": order[:TRAIN_DIGITS], "test": order[TRAIN_DIGITS:]}


def generate_digit_canvases(settings: DigitCanvasSettings) -> dict[str, Tensor]:
    """Both splits as tensors: ``{split}_images`` uint8 ``(N, 1, S, S)``, ``{split}_boxes`` ``(M, 4)``,
    ``{split}_labels`` ``(M,)``, ``{split}_offsets`` ``(N + 1,)`` (canvas i's boxes: rows offsets[i]:offsets[i+1])."""
    rng = np.random.default_rng(settings.seed)
    glyphs, labels = digit_glyphs()
    pools = digit_pools(rng, len(glyphs))
    out: dict[str, Tensor] = {}
    for split, count in (("train", settings.train_canvases), ("test", settings.test_canvases)):
        pool_glyphs = [glyphs[i] for i in pools[split]]
        pool_labels = labels[torch.from_numpy(pools[split])]
        canvases, boxes, classes, offsets = [], [], [], [0]
        for _ in range(count):
            canvas, canvas_boxes, canvas_labels = render_canvas(settings, pool_glyphs, pool_labels, rng)
            canvases.append((canvas * 255).round().to(torch.uint8))
            boxes.append(canvas_boxes)
            classes.append(canvas_labels)
            offsets.append(offsets[-1] + len(canvas_boxes))
        out[f"{split}_images"] = (
            torch.stack(canvases)[:, None]
            if canvases
            else torch.zeros(0, 1, settings.size, settings.size, dtype=torch.uint8)
        )
        out[f"{split}_boxes"] = torch.cat(boxes) if boxes else torch.zeros(0, 4)
        out[f"{split}_labels"] = torch.cat(classes) if classes else torch.zeros(0, dtype=torch.int64)
        out[f"{split}_offsets"] = torch.as_tensor(offsets, dtype=torch.int64)
    return out


def load_digit_canvases(root: Path | None, settings: DigitCanvasSettings) -> dict[str, Tensor]:
    """The canvases of ``settings``, read from ``root`` (default ``data/digits_detection``) or generated there."""
    folder = Path(root) if root is not None else DEFAULT_ROOT
    path = folder / f"canvases-{settings.key()}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as err:  # a torn or foreign file: say which, do not guess
            raise DataError(
                f"{path}: not a digit-canvas file ({type(err).__name__}: {err}); delete it to regenerate"
            ) from None
    log.info("generating %d + %d digit canvases in %s", settings.train_canvases, settings.test_canvases, path)
    tensors = generate_digit_canvases(settings)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(tensors, tmp)
    tmp.replace(path)
    (folder / f"canvases-{settings.key()}.json").write_text(json.dumps(asdict(settings), indent=2) + "\n")
    return tensors


class CanvasImages:
    """One split of the digit canvases, in memory (grey canvases repeated over three channels)."""

    def __init__(self, images: Tensor, boxes: Tensor, labels: Tensor, offsets: Tensor) -> None:
        self.images = images
        self.boxes = boxes
        self.labels = labels
        self.offsets = offsets.tolist()
        self.image_size = images.shape[-1]

    def __len__(self) -> int:
        return len(self.images)

    def name(self, index: int) -> str:
        return f"canvas {index}"

    def targets(self, index: int) -> tuple[Tensor, Tensor]:
        lo, hi = self.offsets[index], self.offsets[index + 1]
        return self.boxes[lo:hi], self.labels[lo:hi]

    def load(self, index: int) -> Tensor:
        return self.images[index].expand(3, -1, -1)


def digit_canvas_splits(root: Path | None, settings: DigitCanvasSettings) -> DetectionSplits:
    """The digit canvases' train and test splits (generated and cached when missing)."""
    t = load_digit_canvases(root, settings)
    split = {
        name: CanvasImages(t[f"{name}_images"], t[f"{name}_boxes"], t[f"{name}_labels"], t[f"{name}_offsets"])
        for name in ("train", "test")
    }
    return DetectionSplits(split["train"], split["test"], DIGIT_CLASSES)


# --- COCO format ------------------------------------------------------------------------------------------------


def read_instances_json(path: Path) -> dict:
    """Parse a COCO instances file; a missing file or a parse error is one DataError naming file, line, column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"COCO annotations {path} do not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: not a COCO instances file (no 'images' list)")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key, []), list):
            raise DataError(f"{path}: '{key}' is not a list")
    return data


def coco_index(data: dict, path: Path):
    """A pycocotools ``COCO`` over parsed ``data`` (its progress prints silenced)."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            coco.createIndex()
        except (KeyError, TypeError) as err:
            raise DataError(f"{path}: malformed COCO entry (missing or wrong field {err})") from None
    return coco


class CocoImages:
    """COCO-format images (decoded when read, letterboxed to ``image_size``) and their cleaned boxes.

    Attributes:
        paths: image files.
        boxes: per image, ``(N, 4)`` xyxy boxes in the original image's pixels (clipped; degenerate ones dropped).
        labels: per image, ``(N,)`` contiguous labels 1..C.
        sizes: per image, the original ``(height, width)`` from the JSON.
    """

    def __init__(
        self, paths: list[Path], boxes: list[Tensor], labels: list[Tensor], sizes: list[tuple[int, int]], size: int
    ) -> None:
        self.paths = paths
        self.boxes = boxes
        self.labels = labels
        self.sizes = sizes
        self.image_size = size

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, index: int) -> str:
        return str(self.paths[index])

    def _scale(self, index: int) -> float:
        height, width = self.sizes[index]
        return self.image_size / max(height, width)

    def targets(self, index: int) -> tuple[Tensor, Tensor]:
        return self.boxes[index] * self._scale(index), self.labels[index]

    def load(self, index: int) -> Tensor:
        with Image.open(self.paths[index]) as file:
            image = pil_to_tensor(file.convert("RGB"))
        height, width = self.sizes[index]
        if tuple(image.shape[-2:]) != (height, width):
            raise ValueError(f"decoded size {tuple(image.shape[-2:])} is not the annotated {(height, width)}")
        scale = self._scale(index)
        resized = F.interpolate(
            image[None].float(),
            size=(max(1, round(height * scale)), max(1, round(width * scale))),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )[0]
        out = torch.zeros(3, self.image_size, self.image_size, dtype=torch.uint8)
        out[:, : resized.shape[1], : resized.shape[2]] = resized.round().clamp(0, 255).to(torch.uint8)
        return out


def read_coco(
    annotations: Path, images: Path, image_size: int, categories: list[dict] | None = None
) -> tuple[CocoImages, list[dict], dict[str, int]]:
    """Read a COCO instances file and its image folder.

    Category ids map to contiguous labels 1..C in the order of ``categories`` (default: this file's, sorted by id),
    so a test file is read with the train file's categories. Boxes are clipped to the image; boxes without area
    after clipping, crowd boxes and boxes of unknown categories are dropped.

    Returns:
        the images, the categories used, and counts of what was dropped: ``degenerate_boxes``, ``clipped_boxes``
        (kept, clipped), ``crowd_boxes``, ``unknown_category_boxes``.

    Raises:
        DataError: a missing file or folder, JSON that does not parse, or a malformed entry.
    """
    annotations, images = Path(annotations), Path(images)
    data = read_instances_json(annotations)
    if not images.is_dir():
        raise DataError(f"COCO image folder {images} does not exist (set data.images)")
    coco = coco_index(data, annotations)
    categories = (
        categories if categories is not None else sorted(coco.dataset.get("categories", []), key=lambda c: c["id"])
    )
    label_of = {category["id"]: k + 1 for k, category in enumerate(categories)}
    counts = {"degenerate_boxes": 0, "clipped_boxes": 0, "crowd_boxes": 0, "unknown_category_boxes": 0}
    paths, all_boxes, all_labels, sizes = [], [], [], []
    for image_id in sorted(coco.imgs):
        info = coco.imgs[image_id]
        try:
            height, width, file_name = int(info["height"]), int(info["width"]), str(info["file_name"])
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{annotations}: image {image_id} lacks a valid height/width/file_name ({err})") from None
        kept_boxes, kept_labels = [], []
        for ann in coco.imgToAnns.get(image_id, []):
            if ann.get("iscrowd", 0):
                counts["crowd_boxes"] += 1
                continue
            if ann.get("category_id") not in label_of:
                counts["unknown_category_boxes"] += 1
                continue
            try:
                x, y, w, h = (float(v) for v in ann["bbox"])
            except (KeyError, TypeError, ValueError):
                counts["degenerate_boxes"] += 1
                continue
            box = [x, y, x + w, y + h]
            clipped = [
                min(max(box[0], 0), width),
                min(max(box[1], 0), height),
                min(max(box[2], 0), width),
                min(max(box[3], 0), height),
            ]
            if clipped[2] - clipped[0] <= 0 or clipped[3] - clipped[1] <= 0 or not np.isfinite(clipped).all():
                counts["degenerate_boxes"] += 1
                continue
            counts["clipped_boxes"] += clipped != box
            kept_boxes.append(clipped)
            kept_labels.append(label_of[ann["category_id"]])
        paths.append(images / file_name)
        all_boxes.append(torch.tensor(kept_boxes, dtype=torch.float32).reshape(-1, 4))
        all_labels.append(torch.tensor(kept_labels, dtype=torch.int64))
        sizes.append((height, width))
    return CocoImages(paths, all_boxes, all_labels, sizes, image_size), categories, counts


def coco_splits(
    root: Path,
    annotations: Path,
    images: Path | None,
    test_annotations: Path | None,
    test_images: Path | None,
    image_size: int,
    test_fraction: float,
    split_seed: int,
) -> DetectionSplits:
    """COCO train and test splits: two instances files, or one split by a seeded hold-out of ``test_fraction``.

    Relative paths are under ``root``. The image folder defaults to the annotations file's split name
    (``annotations/instances_val2017.json`` -> ``val2017/``), COCO's layout.
    """
    root = Path(root)

    def under_root(path: Path) -> Path:
        return path if path.is_absolute() else root / path

    def folder(annotation_file: Path, given: Path | None) -> Path:
        if given is not None:
            return under_root(given)
        return root / annotation_file.stem.removeprefix("instances_")

    if not root.is_dir():
        raise DataError(f"COCO root {root} does not exist")
    train_file = under_root(annotations)
    train, categories, counts = read_coco(train_file, folder(annotations, images), image_size)
    dropped = {f"train_{key}": value for key, value in counts.items()}
    if test_annotations is not None:
        test, _, test_counts = read_coco(
            under_root(test_annotations), folder(test_annotations, test_images), image_size, categories
        )
        dropped |= {f"test_{key}": value for key, value in test_counts.items()}
    else:
        order = np.random.default_rng(split_seed).permutation(len(train))
        held = max(1, round(len(train) * test_fraction)) if len(train) > 1 else 0
        test_ids, train_ids = sorted(order[:held].tolist()), sorted(order[held:].tolist())
        test = _subset(train, test_ids)
        train = _subset(train, train_ids)
    names = tuple(str(c.get("name", c["id"])) for c in categories)
    for key, value in dropped.items():
        if value:
            log.info("COCO %s: %d", key.replace("_", " "), value)
    return DetectionSplits(train, test, names, dropped)


def _subset(source: CocoImages, ids: list[int]) -> CocoImages:
    return CocoImages(
        [source.paths[i] for i in ids],
        [source.boxes[i] for i in ids],
        [source.labels[i] for i in ids],
        [source.sizes[i] for i in ids],
        source.image_size,
    )
