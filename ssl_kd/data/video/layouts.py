"""Where the videos of a split are and what their labels are: class-folder trees, UCF101, HMDB51, Kinetics CSV.

Every parser returns a :class:`VideoIndex` (train and test ``(path, label)`` lists plus class names). Paths that the
split files name but that do not exist are kept: the loader then skips them as unreadable, counts and names them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pytorchvideo.data.labeled_video_paths import LabeledVideoPaths

from ssl_kd.errors import DataError

FORMATS = ("auto", "folder", "ucf101", "hmdb51", "csv")
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


@dataclass
class VideoIndex:
    """The video files and labels of a dataset's train and test splits."""

    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]
    classes: list[str]


def _first_existing(candidates: list[Path], what: str) -> Path:
    for path in candidates:
        if path.exists():
            return path
    raise DataError(f"{what} not found; looked in: {', '.join(str(p) for p in candidates)}")


def parse_ucf101(root: Path, split: int) -> VideoIndex:
    """UCF101: ``classInd.txt``, ``trainlist0N.txt`` (``Class/v_x.avi 1``) and ``testlist0N.txt`` (``Class/v_x.avi``).

    The split files may sit in ``root``, ``root/ucfTrainTestlist`` or ``root/../ucfTrainTestlist``; videos are
    under ``root`` or ``root/UCF-101``.
    """
    candidates = [root, root / "ucfTrainTestlist", root.parent / "ucfTrainTestlist"]
    lists = _first_existing([folder / "classInd.txt" for folder in candidates], "UCF101 classInd.txt").parent
    names = {}
    for line in (lists / "classInd.txt").read_text().split("\n"):
        if line.strip():
            index, name = line.split()
            names[name] = int(index) - 1
    classes = sorted(names, key=names.get)
    videos = root / "UCF-101" if (root / "UCF-101").is_dir() else root

    def read(kind: str) -> list[tuple[Path, int]]:
        path = lists / f"{kind}list{split:02d}.txt"
        if not path.is_file():
            raise DataError(f"UCF101 split file {path} not found (data.split={split})")
        entries = []
        for line in path.read_text().split("\n"):
            if line.strip():
                rel = line.split()[0]
                folder = rel.split("/")[0]
                if folder not in names:
                    raise DataError(f"{path}: class {folder!r} of {rel!r} is not in classInd.txt")
                entries.append((videos / rel, names[folder]))
        return entries

    return VideoIndex(read("train"), read("test"), classes)


def parse_hmdb51(root: Path, split: int) -> VideoIndex:
    """HMDB51: ``<class>_test_split<N>.txt`` files with lines ``<video> <0|1|2>`` (1 = train, 2 = test).

    The split files sit in ``root/testTrainMulti_7030_splits``, ``root/splits`` or ``root``; videos in
    ``root/<class>/``.
    """
    pattern = f"*_test_split{split}.txt"
    candidates = (root / "testTrainMulti_7030_splits", root / "splits", root)
    folder = next((d for d in candidates if d.is_dir() and any(d.glob(pattern))), None)
    if folder is None:
        raise DataError(f"HMDB51 split files {pattern} not found under {root} (data.split={split})")
    files = sorted(folder.glob(pattern))
    classes = [f.name.removesuffix(f"_test_split{split}.txt") for f in files]
    splits: dict[str, list[tuple[Path, int]]] = {"1": [], "2": []}
    for label, (name, path) in enumerate(zip(classes, files, strict=True)):
        for line in path.read_text().split("\n"):
            parts = line.split()
            if len(parts) == 2 and parts[1] in splits:
                splits[parts[1]].append((root / name / parts[0], label))
    return VideoIndex(splits["1"], splits["2"], classes)


def parse_folder(root: Path) -> VideoIndex:
    """Class-folder trees ``root/train/<class>/*.mp4`` and ``root/test/<class>/*`` (or ``val/``)."""
    test_dir = next((root / name for name in ("test", "val") if (root / name).is_dir()), None)
    if not (root / "train").is_dir() or test_dir is None:
        raise DataError(f"video folder: {root} needs 'train/' and 'test/' (or 'val/') class-folder sub-directories")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())

    def read(split_dir: Path) -> list[tuple[Path, int]]:
        entries = []
        for path, info in LabeledVideoPaths.from_directory(str(split_dir)):
            name = Path(path).parent.name
            if name not in classes:
                raise DataError(f"video folder: class {name!r} of {split_dir} has no train/ folder")
            entries.append((Path(path), classes.index(name) if info["label"] is not None else -1))
        return entries

    return VideoIndex(read(root / "train"), read(test_dir), classes)


def parse_csv(root: Path) -> VideoIndex:
    """``root/train.csv`` and ``root/{val,validate,test}.csv``.

    Either Kinetics annotations (header ``label,youtube_id,time_start,time_end[,split]``; the video is
    ``root/<csv stem>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4``) or pytorchvideo's ``<path> <label>`` lines
    with paths relative to ``root`` and integer labels.
    """
    train = root / "train.csv"
    test = _first_existing([root / f"{name}.csv" for name in ("val", "validate", "test")], "test/val CSV")
    if not train.is_file():
        raise DataError(f"CSV video dataset: {train} not found")
    header = train.read_text().split("\n", 1)[0]
    if all(column in header.split(",") for column in KINETICS_COLUMNS):
        rows = {path: list(csv.DictReader(path.open())) for path in (train, test)}
        classes = sorted({row["label"] for table in rows.values() for row in table})

        def kinetics(path: Path) -> list[tuple[Path, int]]:
            return [
                (
                    root
                    / path.stem
                    / row["label"]
                    / f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}.mp4",
                    classes.index(row["label"]),
                )
                for row in rows[path]
            ]

        return VideoIndex(kinetics(train), kinetics(test), classes)
    entries = {
        path: [(root / p, info["label"]) for p, info in LabeledVideoPaths.from_csv(str(path))] for path in (train, test)
    }
    count = 1 + max(label for table in entries.values() for _, label in table)
    return VideoIndex(entries[train], entries[test], [str(i) for i in range(count)])


def detect_format(root: Path) -> str:
    """The layout of ``root``: ucf101 (classInd.txt), hmdb51 (split files), csv (train.csv) or folder (train/)."""
    if any(p.is_file() for p in (root / "classInd.txt", root / "ucfTrainTestlist" / "classInd.txt")):
        return "ucf101"
    if any(any(d.glob("*_test_split1.txt")) for d in (root, root / "testTrainMulti_7030_splits") if d.is_dir()):
        return "hmdb51"
    if (root / "train.csv").is_file():
        return "csv"
    if (root / "train").is_dir():
        return "folder"
    raise DataError(f"cannot tell the video layout of {root}; set data.format to one of {', '.join(FORMATS[1:])}")


def parse_layout(root: Path, layout: str, split: int) -> VideoIndex:
    """Parse ``root`` in ``layout`` (``auto`` detects it) for official split ``split``."""
    layout = detect_format(root) if layout == "auto" else layout
    if layout == "ucf101":
        index = parse_ucf101(root, split)
    elif layout == "hmdb51":
        index = parse_hmdb51(root, split)
    elif layout == "csv":
        index = parse_csv(root)
    elif layout == "folder":
        index = parse_folder(root)
    else:
        raise DataError(f"unknown video format {layout!r}; use one of {', '.join(FORMATS)}")
    if not index.train or not index.test:
        raise DataError(f"{layout} video dataset at {root}: empty train or test split")
    return index
