"""Extracted features as ``.npy`` shards in a VISSL-style layout, written resumably.

For each split and layer, chunk ``c`` of ``chunk_size`` consecutive samples is stored as three arrays::

    OUT/rank0_chunk{c}_{split}_{layer}_features.npy   float32 (n, D)
    OUT/rank0_chunk{c}_{split}_{layer}_targets.npy    int64   (n,)
    OUT/rank0_chunk{c}_{split}_{layer}_inds.npy       int64   (n,)  sample ids: indices into the split

(the names VISSL's feature extraction writes). Every file is written atomically and a chunk counts as done when
all its files exist, so an interrupted extraction continues where it stopped when rerun. ``OUT/extraction.json``
records the settings; a rerun with other settings into the same folder is refused.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ssl_kd.errors import DataError
from ssl_kd.evaluation.features import flatten_tap

SETTINGS_FILE = "extraction.json"
KINDS = ("features", "targets", "inds")
_CHUNK = re.compile(r"rank0_chunk(\d+)_")


def shard_path(out_dir: Path, chunk: int, split: str, layer: str, kind: str) -> Path:
    """The file of one chunk's ``kind`` (features, targets or inds) array."""
    return Path(out_dir) / f"rank0_chunk{chunk}_{split}_{layer}_{kind}.npy"


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def _chunk_done(out_dir: Path, chunk: int, split: str, layers: Sequence[str]) -> bool:
    return all(shard_path(out_dir, chunk, split, layer, kind).is_file() for layer in layers for kind in KINDS)


def check_settings(out_dir: Path, settings: dict[str, Any], split_sizes: dict[str, int]) -> None:
    """Record the extraction settings in ``out_dir/extraction.json``, or check them against a previous run.

    Args:
        out_dir: The extraction folder (created).
        settings: What determines the features (stage, model, dataset, layers, pool size, chunk size ...).
        split_sizes: Number of samples of each split extracted now; merged with the splits already recorded.

    Raises:
        DataError: The folder holds an extraction made with other settings.
    """
    path = Path(out_dir) / SETTINGS_FILE
    previous = json.loads(path.read_text()) if path.is_file() else {"settings": settings, "num_samples": {}}
    changed = sorted(
        key for key in {*settings, *previous["settings"]} if previous["settings"].get(key) != settings.get(key)
    )
    changed += [split for split, n in split_sizes.items() if previous["num_samples"].get(split, n) != n]
    if changed:
        raise DataError(
            f"{out_dir} holds an extraction with other settings ({', '.join(changed)}); use another --out folder"
        )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    record = {"settings": settings, "num_samples": previous["num_samples"] | split_sizes}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)


@torch.no_grad()
def write_shards(
    model: nn.Module,
    make_loader: Callable[[list[int]], DataLoader],
    num_samples: int,
    out_dir: Path,
    split: str,
    layers: Sequence[str],
    chunk_size: int,
    pool_size: int = 1,
    progress: bool = True,
) -> int:
    """Extract the chunks of one split that are not on disk yet.

    Args:
        model: A backbone in eval mode with ``forward_taps``.
        make_loader: ``make_loader(indices)`` returns an unshuffled loader over those sample indices, in order,
            with batch size ``chunk_size``, yielding ``(images, labels, ...)``.
        num_samples: Number of samples in the split.
        out_dir: Output folder.
        split: Split name used in file names.
        layers: Tap names.
        chunk_size: Samples per chunk (the last chunk may be smaller).
        pool_size: Side of the average pool applied to 4-D maps.
        progress: Show a tqdm progress bar.

    Returns:
        The number of chunks written by this call.
    """
    chunks = range((num_samples + chunk_size - 1) // chunk_size)
    pending = [c for c in chunks if not _chunk_done(out_dir, c, split, layers)]
    indices = [i for c in pending for i in range(c * chunk_size, min((c + 1) * chunk_size, num_samples))]
    if not pending:
        return 0
    bar = tqdm(total=len(chunks), initial=len(chunks) - len(pending), desc=f"{split} chunks", disable=not progress)
    with bar:
        for chunk, batch in zip(pending, make_loader(indices), strict=True):
            _write_chunk(model, batch, out_dir, chunk, chunk_size, split, layers, pool_size)
            bar.update(1)
    return len(pending)


def _write_chunk(
    model: nn.Module,
    batch: Sequence[Any],
    out_dir: Path,
    chunk: int,
    chunk_size: int,
    split: str,
    layers: Sequence[str],
    pool_size: int,
) -> None:
    """Run one batch through ``model`` and write its features (per layer), targets and sample ids."""
    images, labels = batch[0], torch.as_tensor(batch[1]).long()
    if len(batch) > 2 and batch[2]:  # sample ids are positions in the split: a dropped sample would shift them
        raise DataError(f"chunk {chunk} of {split}: undecodable samples ({batch[2]}); cannot extract")
    outputs = model.forward_taps(images, list(layers))
    inds = np.arange(chunk * chunk_size, chunk * chunk_size + len(labels), dtype=np.int64)
    for layer in layers:
        _save_npy(shard_path(out_dir, chunk, split, layer, "features"), flatten_tap(outputs[layer], pool_size).numpy())
        _save_npy(shard_path(out_dir, chunk, split, layer, "targets"), labels.numpy())
        _save_npy(shard_path(out_dir, chunk, split, layer, "inds"), inds)


def load_shards(out_dir: Path, split: str, layer: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate a split's shards for one layer, ordered by sample id.

    Args:
        out_dir: The extraction folder.
        split: Split name.
        layer: Layer name.

    Returns:
        ``(float32 features (N, D), int64 labels (N,), int64 sample ids (N,))``.

    Raises:
        DataError: No shards, or an incomplete extraction (rerun ``ssl-kd extract`` to finish it).
    """
    files = sorted(Path(out_dir).glob(f"rank0_chunk*_{split}_{layer}_features.npy"))
    if not files:
        available = sorted({p.name.split("_", 2)[2].rsplit("_", 1)[0] for p in Path(out_dir).glob("rank0_*_inds.npy")})
        raise DataError(
            f"no {split!r} shards of layer {layer!r} in {out_dir}; "
            f"available split_layer: {', '.join(available) or 'none'}"
        )
    chunks = sorted(int(_CHUNK.match(p.name).group(1)) for p in files)
    parts = [[np.load(shard_path(out_dir, c, split, layer, kind)) for c in chunks] for kind in KINDS]
    features, targets, inds = (np.concatenate(part) for part in parts)
    _check_complete(out_dir, split, chunks, len(inds))
    order = np.argsort(inds, kind="stable")
    return (
        torch.from_numpy(features[order]).float(),
        torch.from_numpy(targets[order]).long(),
        torch.from_numpy(inds[order]).long(),
    )


def _check_complete(out_dir: Path, split: str, chunks: list[int], count: int) -> None:
    path = Path(out_dir) / SETTINGS_FILE
    expected = json.loads(path.read_text())["num_samples"].get(split) if path.is_file() else None
    if chunks != list(range(len(chunks))) or (expected is not None and count != expected):
        raise DataError(f"the {split!r} extraction in {out_dir} is incomplete; rerun ssl-kd extract to finish it")
