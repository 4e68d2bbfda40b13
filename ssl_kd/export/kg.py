"""Export of a link-prediction stage's KGE model (TransE, RotatE, ComplEx): its embedding tables, verified on write.

A KG stage's ``model.pt`` holds no image feature extractor, so ONNX and TorchScript do not apply. What a user needs
is the tables and the id maps. Formats (``ssl-kd export STAGE --format safetensors tsv --out DIR``; both by
default):

- ``safetensors``: ``embeddings.safetensors`` with ``entity_embeddings`` (E, entity_width) and
  ``relation_embeddings`` (R, relation_width) float32, header metadata ``arch``, ``dim``, ``gamma``, ``p``,
  ``spec`` (JSON), ``dataset``, ``num_entities``, ``num_relations``;
- ``tsv``: ``entity_embeddings.tsv`` / ``relation_embeddings.tsv``, one ``label<TAB>v1<TAB>v2 ...`` row per id in id
  order, no header, floats written with 9 significant digits (exact float32 round-trip).

Both come with the id maps ``entities.tsv`` / ``relations.tsv`` (header ``id<TAB>label``, then one row per id) and
``manifest.json``. Verification right after writing: the safetensors file is read back and must equal the model's
tables bit for bit; the TSV files are parsed back (labels in id order, floats cast to float32 equal the tables);
and a model rebuilt from the exported tensors (``build_kge(**spec)``) must score a seeded sample of triples as the
original model's ``score_hrt`` does (max abs difference at most ``tolerance``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from ssl_kd.engine.checkpoint import atomic_write_json
from ssl_kd.errors import did_you_mean
from ssl_kd.export.base import ExportError, ExportVerificationError
from ssl_kd.export.manifest import MANIFEST_FILE, MANIFEST_VERSION, provenance
from ssl_kd.export.source import StageModel
from ssl_kd.kg.models import KGEModel, build_kge

KG_FORMATS = ("safetensors", "tsv")
SAFETENSORS_FILE = "embeddings.safetensors"
ENTITY_TENSOR = "entity_embeddings"
RELATION_TENSOR = "relation_embeddings"
ENTITY_MAP = "entities.tsv"
RELATION_MAP = "relations.tsv"
ENTITY_TSV = "entity_embeddings.tsv"
RELATION_TSV = "relation_embeddings.tsv"
FLOAT_FORMAT = "%.9g"  # 9 significant digits: every float32 survives text and back exactly
VERIFY_TRIPLES = 64
VERIFY_SEED = 0
LOG = logging.getLogger("ssl_kd")

LAYOUT = {
    "transe": "entity and relation rows are real vectors of dim reals; score = gamma - ||h + r - t||_p",
    "rotate": (
        "entity rows are [real parts, imaginary parts] (2 * dim reals); relation rows are dim reals whose phases are "
        "theta = relation / (((gamma + 2) / dim) / pi); score = gamma - distance_p(h * exp(i theta) - t) "
        "(p = 1: sum of complex moduli; p = 2: their Euclidean norm)"
    ),
    "complex": (
        "entity and relation rows are [real parts, imaginary parts] (2 * dim reals); "
        "score = Re(sum_i h_i r_i conj(t_i))"
    ),
}


def is_kge(model: Any) -> bool:
    """Whether a stage's model is a KGE model (exported by this module, not as an image feature extractor)."""
    return isinstance(model, KGEModel)


def resolve_kg_formats(names: Sequence[str] | None) -> list[str]:
    """The KG formats named in ``names`` (``None``: all of them), duplicates dropped.

    Raises:
        ExportError: A name that a KG stage cannot export (e.g. ``onnx``); the message lists what it can.
    """
    chosen = list(dict.fromkeys(names or KG_FORMATS))
    bad = [name for name in chosen if name not in KG_FORMATS]
    if bad:
        hint = "".join(did_you_mean(name, KG_FORMATS) for name in bad[:1])
        raise ExportError(
            f"format {', '.join(map(repr, bad))} does not apply to a link-prediction (KGE) stage{hint}: its model "
            f"is embedding tables, not an image feature extractor; a KG stage exports: {', '.join(KG_FORMATS)} "
            f"(e.g. --format {' '.join(KG_FORMATS)})"
        )
    return chosen


def _labels(meta: dict[str, Any], key: str, count: int) -> list[str]:
    labels = meta.get(key)
    if labels is None:
        LOG.warning("model.pt has no %s labels; the id maps use the ids as labels", key)
        return [str(i) for i in range(count)]
    labels = [str(label) for label in labels]
    if len(labels) != count:
        raise ExportError(f"model.pt lists {len(labels)} {key} but the model embeds {count}")
    bad = next((label for label in labels if "\t" in label or "\n" in label or "\r" in label), None)
    if bad is not None:
        raise ExportError(f"{key} label {bad!r} holds a tab or a line break; it cannot be written to a TSV file")
    return labels


def _write_id_map(path: Path, labels: list[str]) -> None:
    path.write_text("id\tlabel\n" + "".join(f"{i}\t{label}\n" for i, label in enumerate(labels)), encoding="utf-8")


def read_id_map(path: Path) -> list[str]:
    """Labels in id order from an ``id<TAB>label`` file written by this module."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != "id\tlabel":
        raise ExportError(f"{path}: expected the header 'id<TAB>label'")
    rows = [line.split("\t", 1) for line in lines[1:]]
    if [int(i) for i, _ in rows] != list(range(len(rows))):
        raise ExportError(f"{path}: ids are not 0, 1, 2, ... in order")
    return [label for _, label in rows]


def _write_embedding_tsv(path: Path, labels: list[str], table: np.ndarray) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for label, row in zip(labels, table, strict=True):
            handle.write(label + "\t" + "\t".join(FLOAT_FORMAT % value for value in row.tolist()) + "\n")


def read_embedding_tsv(path: Path) -> tuple[list[str], np.ndarray]:
    """``(labels, float32 table)`` of a ``label<TAB>v1<TAB>v2 ...`` file."""
    labels, rows = [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        label, *values = line.split("\t")
        labels.append(label)
        rows.append([float(value) for value in values])
    return labels, np.asarray(rows, dtype=np.float64).astype(np.float32)


def _tables(model: KGEModel) -> dict[str, Tensor]:
    return {
        ENTITY_TENSOR: model.entity.weight.detach().cpu().float().contiguous(),
        RELATION_TENSOR: model.relation.weight.detach().cpu().float().contiguous(),
    }


def safetensors_metadata(model: KGEModel, dataset: str | None) -> dict[str, str]:
    """The header metadata of ``embeddings.safetensors`` (all strings, as safetensors requires)."""
    spec = model.spec()
    options = spec["options"]
    return {
        "format": "pt",
        "arch": model.arch,
        "dim": str(model.dim),
        "gamma": str(model.gamma),
        "p": str(options.get("p", "")),
        "spec": json.dumps(spec),
        "dataset": str(dataset or ""),
        "num_entities": str(model.num_entities),
        "num_relations": str(model.num_relations),
        "layout": LAYOUT.get(model.arch, ""),
    }


def load_kge_safetensors(path: Path) -> tuple[KGEModel, dict[str, str]]:
    """Rebuild a KGE model from an exported ``embeddings.safetensors`` alone: ``(model, header metadata)``."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
        tables = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118  (safe_open has no iterator)
    spec = json.loads(metadata["spec"])
    model = build_kge(spec["arch"], **spec["options"])
    model.load_state_dict({"entity.weight": tables[ENTITY_TENSOR], "relation.weight": tables[RELATION_TENSOR]})
    return model.eval(), metadata


def verification_triples(model: KGEModel, count: int = VERIFY_TRIPLES) -> Tensor:
    """Seeded uniform ``(count, 3)`` (head, relation, tail) ids."""
    generator = torch.Generator().manual_seed(VERIFY_SEED)
    heads = torch.randint(model.num_entities, (count,), generator=generator)
    relations = torch.randint(model.num_relations, (count,), generator=generator)
    tails = torch.randint(model.num_entities, (count,), generator=generator)
    return torch.stack([heads, relations, tails], dim=1)


def _score_diff(original: KGEModel, rebuilt: KGEModel, triples: Tensor) -> float:
    with torch.no_grad():
        expected = original.score_hrt(triples[:, 0], triples[:, 1], triples[:, 2]).double()
        actual = rebuilt.score_hrt(triples[:, 0], triples[:, 1], triples[:, 2]).double()
    return float((actual - expected).abs().max())


def _check(name: str, path: Path, diff: float, tolerance: float, what: str) -> None:
    if not diff <= tolerance:
        raise ExportVerificationError(
            f"{name} export {path} differs from the model: {what} max abs diff {diff:.3g} > tolerance {tolerance:.3g}"
        )


def _verify_safetensors(path: Path, model: KGEModel, triples: Tensor, tolerance: float) -> dict[str, Any]:
    rebuilt, metadata = load_kge_safetensors(path)
    for key, table in _tables(model).items():
        with safe_open(str(path), framework="pt") as handle:
            reloaded = handle.get_tensor(key)
        if reloaded.shape != table.shape or not torch.equal(reloaded, table):
            raise ExportVerificationError(f"safetensors export {path}: tensor {key} differs from the model's table")
    if metadata.get("arch") != model.arch or json.loads(metadata["spec"]) != model.spec():
        raise ExportVerificationError(f"safetensors export {path}: header metadata does not describe the model")
    diff = _score_diff(model, rebuilt, triples)
    _check("safetensors", path, diff, tolerance, "score_hrt")
    return {"max_abs_diff": diff, "tables_equal": True}


def _verify_tsv(
    out_dir: Path, model: KGEModel, entities: list[str], relations: list[str], triples: Tensor, tolerance: float
) -> dict[str, Any]:
    tables = _tables(model)
    parsed = {}
    for key, file, labels in ((ENTITY_TENSOR, ENTITY_TSV, entities), (RELATION_TENSOR, RELATION_TSV, relations)):
        read_labels, table = read_embedding_tsv(out_dir / file)
        if read_labels != labels:
            raise ExportVerificationError(f"tsv export {out_dir / file}: labels differ from the id map")
        expected = tables[key].numpy()
        if table.shape != expected.shape:
            raise ExportVerificationError(f"tsv export {out_dir / file}: shape {table.shape} != {expected.shape}")
        _check("tsv", out_dir / file, float(np.abs(table - expected).max(initial=0.0)), 0.0, "float32 round-trip")
        parsed[key] = torch.from_numpy(table)
    rebuilt = build_kge(model.arch, **model.spec()["options"]).eval()
    rebuilt.load_state_dict({"entity.weight": parsed[ENTITY_TENSOR], "relation.weight": parsed[RELATION_TENSOR]})
    diff = _score_diff(model, rebuilt, triples)
    _check("tsv", out_dir, diff, tolerance, "score_hrt")
    return {"max_abs_diff": diff, "tables_equal": True}


def build_kg_manifest(source: StageModel, tolerance: float) -> dict[str, Any]:
    """The manifest of a KG export, without ``files``."""
    model: KGEModel = source.model
    return {
        "manifest_version": MANIFEST_VERSION,
        "domain": "link_prediction",
        "arch": model.arch,
        "spec": model.spec(),
        "dim": model.dim,
        "gamma": model.gamma,
        "num_entities": model.num_entities,
        "num_relations": model.num_relations,
        "entity_width": model.entity_width,
        "relation_width": model.relation_width,
        "layout": LAYOUT.get(model.arch, ""),
        "dataset": source.meta.get("dataset"),
        "id_maps": {"entities": ENTITY_MAP, "relations": RELATION_MAP, "columns": ["id", "label"], "header": True},
        "tolerance": tolerance,
        "verification": {
            "tables": "re-read and compared exactly with the model's (safetensors bit for bit; TSV after float32)",
            "scores": f"score_hrt of {VERIFY_TRIPLES} seeded random triples, model rebuilt from the exported tables",
            "metric": "max abs diff",
        },
        **provenance(source),
        "files": {},
    }


def export_kg_stage(
    source: StageModel, out_dir: Path, formats: Sequence[str] | None, tolerance: float
) -> dict[str, Any]:
    """Write a KGE stage's tables in ``formats`` (``safetensors``, ``tsv``; ``None``: both), the id maps and
    ``manifest.json`` to ``out_dir``, each file verified right after writing (see the module docstring).

    Returns:
        The manifest.

    Raises:
        ExportError: A format that does not apply to a KG model, or labels that cannot be written;
            ``ExportVerificationError`` when a file does not read back to the model.
    """
    chosen = resolve_kg_formats(formats)
    model: KGEModel = source.model.eval()
    entities = _labels(source.meta, "entities", model.num_entities)
    relations = _labels(source.meta, "relations", model.num_relations)
    manifest = build_kg_manifest(source, tolerance)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_id_map(out_dir / ENTITY_MAP, entities)
    _write_id_map(out_dir / RELATION_MAP, relations)
    if read_id_map(out_dir / ENTITY_MAP) != entities or read_id_map(out_dir / RELATION_MAP) != relations:
        raise ExportVerificationError(f"id maps in {out_dir} do not read back to the model's labels")
    triples = verification_triples(model)
    tables = _tables(model)
    for name in chosen:
        if name == "safetensors":
            path = out_dir / SAFETENSORS_FILE
            save_file(tables, str(path), metadata=safetensors_metadata(model, source.meta.get("dataset")))
            entry = {"file": SAFETENSORS_FILE, "tensors": {key: list(value.shape) for key, value in tables.items()}}
            entry |= _verify_safetensors(path, model, triples, tolerance)
        else:
            _write_embedding_tsv(out_dir / ENTITY_TSV, entities, tables[ENTITY_TENSOR].numpy())
            _write_embedding_tsv(out_dir / RELATION_TSV, relations, tables[RELATION_TENSOR].numpy())
            entry = {"file": ENTITY_TSV, "files": [ENTITY_TSV, RELATION_TSV], "columns": "label, then the values"}
            entry |= _verify_tsv(out_dir, model, entities, relations, triples, tolerance)
        LOG.info("exported %s: %s (score max abs diff %.3g)", name, out_dir / entry["file"], entry["max_abs_diff"])
        manifest["files"][name] = entry
    atomic_write_json(out_dir / MANIFEST_FILE, manifest)
    return manifest
