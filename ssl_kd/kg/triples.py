"""Knowledge-graph triples: read ``head<TAB>relation<TAB>tail`` files into id tensors (docs/methods/kge.md).

A KG folder holds one file per split, in the FB15k-237 / WN18RR / DBP-5L layout::

    root/train.txt   root/valid.txt   root/test.txt

Accepted file names, first match wins: ``train.txt`` or ``train.tsv``; ``valid.txt``, ``valid.tsv``, ``dev.txt`` or
``dev.tsv``; ``test.txt`` or ``test.tsv``. Entity and relation ids come from the training triples only (sorted
labels, as pykeen's ``TriplesFactory``); valid/test triples naming an entity or relation unseen in training are left
out, counted in ``KGSplits.dropped`` and logged as a warning.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ssl_kd.errors import DataError, did_you_mean

logger = logging.getLogger("ssl_kd")

#: The small KGs shipped inside the pykeen wheel (``pykeen/datasets/<name>/{train,valid,test}.txt``).
BUNDLED_KGS: tuple[str, ...] = ("nations", "kinships", "umls")

#: Accepted file names per split, in the order they are tried.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.txt", "train.tsv"),
    "valid": ("valid.txt", "valid.tsv", "dev.txt", "dev.tsv"),
    "test": ("test.txt", "test.tsv"),
}


@dataclass
class KGSplits:
    """A KG with id-mapped splits: ``train``/``valid``/``test`` are (n, 3) int64 rows (head, relation, tail).

    ``entities[i]`` / ``relations[j]`` are the labels of id i / j; ``dropped[split]`` counts the triples of that split
    left out because an entity or relation does not occur in training (always 0 for ``train``).
    """

    name: str
    entities: list[str]
    relations: list[str]
    train: Tensor
    valid: Tensor
    test: Tensor
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def split(self, name: str) -> Tensor:
        """The triples of ``"train"``, ``"valid"`` or ``"test"``."""
        if name not in SPLIT_FILES:
            raise DataError(f"unknown KG split {name!r}; expected one of {', '.join(SPLIT_FILES)}")
        return getattr(self, name)

    def __repr__(self) -> str:
        return (
            f"KGSplits({self.name!r}, entities={self.num_entities}, relations={self.num_relations}, "
            f"train={len(self.train)}, valid={len(self.valid)}, test={len(self.test)}, dropped={self.dropped})"
        )


def read_triples_file(path: Path) -> list[tuple[str, str, str]]:
    """Read a ``head<TAB>relation<TAB>tail`` file (UTF-8); blank lines are skipped, fields are stripped.

    Raises:
        DataError: the file is missing, or a line does not hold exactly three non-empty tab-separated fields
            (the message names the file and the 1-based line number).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"triples file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None
    triples: list[tuple[str, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [part.strip() for part in line.split("\t")]
        if len(fields) != 3:
            raise DataError(
                f"{path}:{number}: expected 3 tab-separated fields (head, relation, tail), got {len(fields)}"
            )
        for role, value in zip(("head", "relation", "tail"), fields, strict=True):
            if not value:
                raise DataError(f"{path}:{number}: empty {role} field")
        triples.append((fields[0], fields[1], fields[2]))
    return triples


def _split_file(root: Path, split: str) -> Path:
    for candidate in SPLIT_FILES[split]:
        if (root / candidate).is_file():
            return root / candidate
    raise DataError(f"KG folder {root} has no {split} file (looked for {', '.join(SPLIT_FILES[split])})")


def _map(triples: Sequence[tuple[str, str, str]], entity_id: dict[str, int], relation_id: dict[str, int]) -> Tensor:
    rows = [
        (entity_id[h], relation_id[r], entity_id[t])
        for h, r, t in triples
        if h in entity_id and r in relation_id and t in entity_id
    ]
    return torch.tensor(rows, dtype=torch.int64).reshape(-1, 3)


def splits_from_labels(
    name: str,
    train: Sequence[tuple[str, str, str]],
    valid: Sequence[tuple[str, str, str]],
    test: Sequence[tuple[str, str, str]],
) -> KGSplits:
    """Map labelled triples to ids assigned from ``train`` (sorted labels); drop and count unseen valid/test rows."""
    if not train:
        raise DataError(f"KG {name!r}: no training triples")
    entities = sorted({h for h, _, _ in train} | {t for _, _, t in train})
    relations = sorted({r for _, r, _ in train})
    entity_id = {label: i for i, label in enumerate(entities)}
    relation_id = {label: i for i, label in enumerate(relations)}
    tensors: dict[str, Tensor] = {}
    dropped: dict[str, int] = {}
    for split, rows in (("train", train), ("valid", valid), ("test", test)):
        tensors[split] = _map(rows, entity_id, relation_id)
        dropped[split] = len(rows) - len(tensors[split])
        if dropped[split]:
            logger.warning(
                "KG %s: left out %d of %d %s triples whose entity or relation does not occur in training",
                name,
                dropped[split],
                len(rows),
                split,
            )
    return KGSplits(name, entities, relations, tensors["train"], tensors["valid"], tensors["test"], dropped)


def load_triples_folder(root: Path, name: str | None = None) -> KGSplits:
    """Load ``root/{train,valid,test}.txt`` (see the module docstring for accepted names) into id tensors.

    Args:
        root: the KG folder.
        name: the KG's name; defaults to the folder name.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"KG folder not found: {root}")
    files = {split: _split_file(root, split) for split in SPLIT_FILES}
    labelled = {split: read_triples_file(path) for split, path in files.items()}
    return splits_from_labels(name or root.name, labelled["train"], labelled["valid"], labelled["test"])


def bundled_kg_folder(name: str) -> Path:
    """The folder of a KG bundled with pykeen, found with ``importlib.util.find_spec`` (pykeen is not imported)."""
    key = name.lower()
    if key not in BUNDLED_KGS:
        raise DataError(f"unknown bundled KG {name!r}{did_you_mean(key, BUNDLED_KGS)}; known: {', '.join(BUNDLED_KGS)}")
    spec = importlib.util.find_spec("pykeen")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"bundled KG {name!r} is read from the pykeen package, which is not installed (pip install pykeen)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / key
    if not folder.is_dir():
        raise DataError(f"bundled KG {name!r}: folder {folder} is missing from the installed pykeen")
    return folder


def load_bundled_kg(name: str) -> KGSplits:
    """Load ``"nations"``, ``"kinships"`` or ``"umls"`` from the files inside the installed pykeen wheel."""
    return load_triples_folder(bundled_kg_folder(name), name=name.lower())


def all_true_triples(splits: KGSplits) -> Tensor:
    """Every known true triple, train + valid + test without duplicates: the filter of filtered ranking."""
    return torch.cat([splits.train, splits.valid, splits.test]).unique(dim=0)
