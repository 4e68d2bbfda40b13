"""``ssl-kd export`` of a link-prediction stage: embeddings as safetensors and TSV, id maps, manifest, bad formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ssl_kd.cli import main
from ssl_kd.config import load_pipeline
from ssl_kd.engine.checkpoint import save_model
from ssl_kd.export import ExportError, ExportVerificationError, export_stage, load_kge_safetensors, read_manifest
from ssl_kd.export.kg import read_embedding_tsv, read_id_map, verification_triples
from ssl_kd.kg.models import build_kge
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler

from conftest import write_pipeline

KG_PIPELINE = {
    "name": "tiny_kg",
    "stages": [
        {
            "name": "kge",
            "kind": "train",
            "method": "kge",
            "model": {"arch": "rotate", "options": {"dim": 8, "gamma": 6.0}},
            "epochs": 1,
            "num_negatives": 4,
            "data": {"name": "nations", "batch_size": 256, "eval_batch_size": 256},
            "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0, "schedule": "constant"},
            "engine": {"device": "cpu", "progress": False, "tensorboard": False},
        },
        {"name": "export", "kind": "export", "model": {"from": "kge"}, "formats": ["safetensors", "tsv"]},
    ],
}


@pytest.fixture(scope="module")
def kg_stage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stage folder of a 1-epoch 8-d RotatE trained on nations through the scheduler (then an export stage)."""
    root = tmp_path_factory.mktemp("kg_run")
    Scheduler(load_pipeline(write_pipeline(root / "kg.yaml", KG_PIPELINE)), root / "run").run()
    return root / "run" / "kge"


def _stage_with(tmp_path: Path, arch: str, **options) -> Path:
    model = build_kge(arch, num_entities=7, num_relations=3, dim=4, **options)
    meta = {"dataset": "toy", "entities": [f"e {i}" for i in range(7)], "relations": ["r0", "r1", "r2"]}
    stage = tmp_path / "run" / "stage"
    stage.mkdir(parents=True)
    save_model(stage / "model.pt", model, model.spec(), **meta)
    return stage


def test_cli_exports_a_trained_kg_stage(kg_stage: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "exported"
    assert main(["export", str(kg_stage), "--format", "safetensors", "tsv", "--out", str(out)]) == 0
    assert "embeddings.safetensors" in capsys.readouterr().out
    model, meta = load_saved_model(kg_stage)
    entity, relation = model.entity.weight.detach(), model.relation.weight.detach()
    assert entity.shape == (model.num_entities, 16) and relation.shape == (model.num_relations, 8)

    with safe_open(str(out / "embeddings.safetensors"), framework="pt") as handle:
        assert torch.equal(handle.get_tensor("entity_embeddings"), entity)
        assert torch.equal(handle.get_tensor("relation_embeddings"), relation)
        header = handle.metadata()
    assert header["arch"] == "rotate" and header["dim"] == "8" and float(header["gamma"]) == 6.0
    assert header["dataset"] == "nations"

    assert read_id_map(out / "entities.tsv") == meta["entities"]
    assert read_id_map(out / "relations.tsv") == meta["relations"]
    labels, table = read_embedding_tsv(out / "entity_embeddings.tsv")
    assert labels == meta["entities"] and np.array_equal(table, entity.numpy())
    labels, table = read_embedding_tsv(out / "relation_embeddings.tsv")
    assert labels == meta["relations"] and np.array_equal(table, relation.numpy())
    rows = (out / "entity_embeddings.tsv").read_text().splitlines()
    assert len(rows) == model.num_entities and len(rows[0].split("\t")) == 1 + 16

    rebuilt, _ = load_kge_safetensors(out / "embeddings.safetensors")
    triples = verification_triples(model)
    with torch.no_grad():
        expected = model.score_hrt(triples[:, 0], triples[:, 1], triples[:, 2])
        assert torch.equal(rebuilt.score_hrt(triples[:, 0], triples[:, 1], triples[:, 2]), expected)

    manifest = read_manifest(out)
    assert manifest["domain"] == "link_prediction" and manifest["arch"] == "rotate" and manifest["dim"] == 8
    assert manifest["spec"] == model.spec() and manifest["source"]["stage"] == "kge"
    assert set(manifest["files"]) == {"safetensors", "tsv"}
    for entry in manifest["files"].values():
        assert entry["max_abs_diff"] == 0.0 and entry["tables_equal"]


@pytest.mark.parametrize(("arch", "options"), [("transe", {"p": 2}), ("complex", {}), ("rotate", {"p": 2})])
def test_every_arch_round_trips(arch: str, options: dict, tmp_path: Path) -> None:
    stage = _stage_with(tmp_path, arch, **options)
    manifest = export_stage(stage, tmp_path / "out", None)
    assert set(manifest["files"]) == {"safetensors", "tsv"}
    model, _ = load_saved_model(stage)
    rebuilt, header = load_kge_safetensors(tmp_path / "out" / "embeddings.safetensors")
    assert json.loads(header["spec"]) == model.spec()
    triples = verification_triples(model)
    with torch.no_grad():
        assert torch.equal(rebuilt(triples), model.eval()(triples))
    assert read_id_map(tmp_path / "out" / "entities.tsv")[0] == "e 0"  # spaces survive: only tabs separate


@pytest.mark.parametrize("bad", ["onnx", "torchscript"])
def test_image_formats_on_a_kg_stage_name_what_it_can_export(bad: str, tmp_path: Path) -> None:
    stage = _stage_with(tmp_path, "transe")
    with pytest.raises(ExportError, match=r"does not apply to a link-prediction .*exports: safetensors, tsv"):
        export_stage(stage, tmp_path / "out", [bad, "safetensors"])
    assert not (tmp_path / "out").exists()


def test_cli_bad_format_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    stage = _stage_with(tmp_path, "rotate")
    assert main(["export", str(stage), "--format", "onnx", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("ssl-kd: error: format 'onnx' does not apply") and "safetensors, tsv" in error


def test_tsv_is_its_own_format(tmp_path: Path) -> None:
    stage = _stage_with(tmp_path, "rotate")
    manifest = export_stage(stage, tmp_path / "out", ["tsv"])
    assert set(manifest["files"]) == {"tsv"}
    names = {path.name for path in (tmp_path / "out").iterdir()}
    tables = {"entity_embeddings.tsv", "relation_embeddings.tsv"}
    assert names == {"entities.tsv", "relations.tsv", "manifest.json", *tables}


def test_verification_catches_a_wrong_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl_kd.export.kg as kg

    stage = _stage_with(tmp_path, "transe")
    real = kg._write_embedding_tsv
    monkeypatch.setattr(kg, "_write_embedding_tsv", lambda path, labels, table: real(path, labels, table + 1e-3))
    with pytest.raises(ExportVerificationError, match="float32 round-trip"):
        export_stage(stage, tmp_path / "out", ["tsv"])


def test_image_export_help_lists_kg_formats(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = capsys.readouterr().out
    assert "tsv" in text and "entity_embeddings" in text and "do not apply to a KG stage" in text


def test_export_stage_writes_kg_formats(kg_stage: Path) -> None:
    exported = kg_stage.parent / "export" / "exported"
    assert (exported / "embeddings.safetensors").is_file() and (exported / "entity_embeddings.tsv").is_file()
    metrics = json.loads((kg_stage.parent / "export" / "metrics.json").read_text())
    assert metrics == {"safetensors_max_abs_diff": 0.0, "tsv_max_abs_diff": 0.0}
