"""Reader for DBP-5L, the multilingual KG data of KEnS, in the layout of the reference repository.

Chen et al., "Multilingual Knowledge Graph Completion via Ensemble Knowledge Transfer", Findings of EMNLP 2020,
arXiv 2010.03158; data from github.com/stasl0217/KEnS (``data/``); docs/methods/kens.md. Layout under ``root``
(the repository's ``data`` folder)::

    kg/{lang}-train.tsv, kg/{lang}-val.tsv, kg/{lang}-test.tsv    head<TAB>relation<TAB>tail, integer ids
    entity/{lang}.tsv                                             one entity name per line (line i = id i)
    relations.txt                                                 one relation name per line, shared by all
    seed_alignlinks/{a}-{b}.tsv                                   id in a<TAB>id in b (ids may read "12.0")

Each pair's file exists in one order only (``el-en.tsv`` but ``en-fr.tsv``). Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from ssl_kd.errors import DataError
from ssl_kd.kg.views import AlignmentLinks, KGView, LanguageViews

SPLITS = {"train": "-train.tsv", "valid": "-val.tsv", "test": "-test.tsv"}


def _names(path: Path) -> tuple[str, ...]:
    with path.open(encoding="utf-8") as f:
        return tuple(name for name in (line.rstrip("\r\n").strip() for line in f) if name)


def _int(field: str, path: Path, lineno: int) -> int:
    try:
        value = float(field)
    except ValueError:
        raise DataError(f"{path}:{lineno}: {field!r} is not an id") from None
    if not value.is_integer() or value < 0:
        raise DataError(f"{path}:{lineno}: {field!r} is not a non-negative integer id")
    return int(value)


def _table(path: Path, columns: int, limits: Sequence[int]) -> Tensor:
    """Integer rows of a tab-separated file, each column checked against its id range."""
    rows: list[list[int]] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != columns:
                raise DataError(f"{path}:{lineno}: expected {columns} tab-separated ids, got {len(fields)} fields")
            row = [_int(x, path, lineno) for x in fields]
            for value, limit in zip(row, limits, strict=True):
                if value >= limit:
                    raise DataError(f"{path}:{lineno}: id {value} out of range (< {limit} expected)")
            rows.append(row)
    return torch.tensor(rows, dtype=torch.long).reshape(-1, columns)


def read_dbp5l(
    root: str | Path,
    languages: Sequence[str] | None = None,
    held_out_fraction: float = 0.0,
    seed: int = 0,
) -> LanguageViews:
    """DBP-5L as :class:`LanguageViews`, view i = ``languages[i]`` (put the target language first).

    Args:
        root: the folder holding ``kg/``, ``entity/``, ``seed_alignlinks/`` and ``relations.txt``.
        languages: language codes; default every ``kg/*-train.tsv``, sorted.
        held_out_fraction: part of each pair's seed links moved, at random (``seed``), to ``held_out`` to
            measure alignment precision; 0 (default) gives every file link to training, as the reference does.
        seed: seed of that split.

    Returns:
        Views with ``entity_names`` and no source ids; ``links[(a, b)]`` for every pair with a file (a < b as
        view indices, columns in that order). Pairs without a file have no entry.

    Raises:
        DataError: one error listing every missing file, or naming the file and line of a malformed row.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"DBP-5L folder {root} does not exist")
    if languages is None:
        languages = sorted(p.name[: -len(SPLITS["train"])] for p in (root / "kg").glob("*" + SPLITS["train"]))
        if not languages:
            raise DataError(f"no kg/*-train.tsv under {root}: not a DBP-5L data folder")
    languages = list(languages)
    if len(set(languages)) != len(languages):
        raise DataError(f"languages repeat: {languages}")
    if not 0.0 <= held_out_fraction <= 1.0:
        raise ValueError(f"held_out_fraction must lie in [0, 1], got {held_out_fraction}")
    needed = [root / "relations.txt"]
    for lang in languages:
        needed += [root / "kg" / f"{lang}{suffix}" for suffix in SPLITS.values()] + [root / "entity" / f"{lang}.tsv"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise DataError(f"DBP-5L files missing under {root}: " + ", ".join(missing))

    num_relations = len(_names(root / "relations.txt"))
    views = []
    for lang in languages:
        names = _names(root / "entity" / f"{lang}.tsv")
        limits = (len(names), num_relations, len(names))
        splits = {key: _table(root / "kg" / f"{lang}{suffix}", 3, limits) for key, suffix in SPLITS.items()}
        views.append(KGView(lang, len(names), num_relations, **splits, entity_names=names))

    generator = torch.Generator().manual_seed(seed)
    links: dict[tuple[int, int], AlignmentLinks] = {}
    for a, lang_a in enumerate(languages):
        for b in range(a + 1, len(languages)):
            lang_b = languages[b]
            forward, backward = (
                root / "seed_alignlinks" / f"{lang_a}-{lang_b}.tsv",
                root / "seed_alignlinks" / f"{lang_b}-{lang_a}.tsv",
            )
            if forward.is_file():
                pairs = _table(forward, 2, (views[a].num_entities, views[b].num_entities))
            elif backward.is_file():
                pairs = _table(backward, 2, (views[b].num_entities, views[a].num_entities)).flip(1)
            else:
                continue
            n_held = round(held_out_fraction * len(pairs))
            if n_held:
                pairs = pairs[torch.randperm(len(pairs), generator=generator)]
            links[(a, b)] = AlignmentLinks(pairs[n_held:], pairs[:n_held])
    return LanguageViews(tuple(views), links)
