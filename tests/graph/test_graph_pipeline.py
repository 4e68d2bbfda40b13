"""Tiny node-classification pipelines through the Scheduler: a GNN teacher -> CPF students on the digits graph, the
shipped pipeline on a hand-written Planetoid fixture, the gates file and report, and the first errors users meet."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from fixtures import write_npz, write_planetoid

from ssl_kd.cli import main
from ssl_kd.config import load_pipeline
from ssl_kd.errors import ConfigError
from ssl_kd.graph.domain import NodeClassification
from ssl_kd.graph.methods.base import inputs_of
from ssl_kd.graph.methods.cpf import CPF
from ssl_kd.graph.models import GCN, CPFStudent
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler

from conftest import REPO, write_pipeline

TINY_GRAPH = {
    "name": "tiny_graph",
    "defaults": {
        "data": {"name": "digits_graph", "knn": 10},
        "engine": {"progress": False, "tensorboard": False, "device": "cpu", "checkpoint_every": 5},
        "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0, "schedule": "constant"},
        "epochs": 4,
    },
    "stages": [
        {"name": "gcn", "method": "gnn", "model": {"arch": "gcn", "options": {"hidden": 16}}, "epochs": 30,
         "early_stopping": {"metric": "val_accuracy", "patience": 3}},
        {"name": "cpf_ind", "method": "cpf", "student": {"arch": "cpf", "options": {"steps": 3}},
         "teacher": {"from": "gcn"}},
        {"name": "cpf_tra", "method": "cpf", "distance": "per_node_l2",
         "student": {"arch": "cpf", "options": {"ptype": "tra", "steps": 3}}, "teacher": {"from": "gcn"}},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_graph_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("graph")
    path = write_pipeline(root / "graph.yaml", TINY_GRAPH)
    return root, Scheduler(load_pipeline(path), root / "run").run()


def test_every_stage_reports_test_accuracy(tiny_graph_run: tuple[Path, list]) -> None:
    _, outcomes = tiny_graph_run
    metrics = {outcome.name: outcome.metrics for outcome in outcomes}
    assert metrics["gcn"]["test_accuracy"] > 0.5  # far above chance (0.1) after 30 full-batch steps
    for name in ("cpf_ind", "cpf_tra"):
        assert 0 <= metrics[name]["test_accuracy"] <= 1 and metrics[name]["steps"] == 4
        assert metrics[name]["test_nodes"] == metrics["gcn"]["test_nodes"] == 1797 - 500


def test_the_student_file_round_trips_and_scores_as_reported(tiny_graph_run: tuple[Path, list]) -> None:
    root, outcomes = tiny_graph_run
    student, meta = load_saved_model(root / "run" / "cpf_ind")
    teacher, _ = load_saved_model(root / "run" / "gcn")
    assert isinstance(student, CPFStudent) and isinstance(teacher, GCN)
    assert student.num_nodes == meta["num_nodes"] == 1797 and len(meta["labelled_nodes"]) == 200
    cfg = load_pipeline(root / "graph.yaml").stage("cpf_ind")
    graph = NodeClassification().load(cfg).splits
    assert graph.labelled.tolist() == meta["labelled_nodes"]
    with torch.no_grad():
        predicted = student.eval()(inputs_of(graph)).argmax(dim=1)
    accuracy = (predicted[graph.test] == graph.labels[graph.test]).float().mean().item()
    assert accuracy == pytest.approx(outcomes[1].metrics["test_accuracy"])


def test_cpf_stages_write_their_gates(tiny_graph_run: tuple[Path, list]) -> None:
    root, _ = tiny_graph_run
    with (root / "run" / "cpf_tra" / "gates.csv").open() as file:
        rows = list(csv.DictReader(file))
    student, _ = load_saved_model(root / "run" / "cpf_tra")
    assert len(rows) == 1797 and {row["split"] for row in rows} == {"labelled", "validation", "test"}
    gates = torch.tensor([float(row["gate"]) for row in rows])
    assert torch.allclose(gates, torch.sigmoid(student.alpha.detach()), atol=1e-6)
    assert not (root / "run" / "gcn" / "gates.csv").exists()
    labelled = [row for row in rows if row["split"] == "labelled"]
    assert all(row["predicted"] == row["label"] for row in labelled)  # clamped


def test_the_report_plots_the_gates(tiny_graph_run: tuple[Path, list]) -> None:
    from ssl_kd.report import build_report

    html = build_report(tiny_graph_run[0] / "run").read_text()
    assert "CPF gates" in html and "node acc" in html
    assert (tiny_graph_run[0] / "run" / "report" / "gates_cpf_ind.png").stat().st_size > 1000


def test_the_shipped_pipeline_runs_on_planetoid_raw_files(tmp_path: Path) -> None:
    root = write_planetoid(tmp_path / "Planetoid")
    overrides = ["data.name=planetoid", f"data.root={root}", "data.graph=Cora", "epochs=2", "engine.device=cpu"]
    pipeline = load_pipeline(REPO / "pipelines" / "cpf_digits_graph.yaml", overrides)
    outcomes = Scheduler(pipeline, tmp_path / "run").run()
    assert len(outcomes) == 9 and all(o.metrics["test_nodes"] == 120 - 2 * 50 for o in outcomes)
    _, meta = load_saved_model(tmp_path / "run" / "cpf_tra_appnp")
    assert meta["dataset"] == "planetoid" and meta["data"]["graph"] == "Cora" and meta["num_nodes"] == 120


def test_a_broken_graph_file_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "photo.npz").write_bytes(b"not an archive")
    raw = {**TINY_GRAPH, "stages": TINY_GRAPH["stages"][:1]}
    raw["defaults"] = {**raw["defaults"], "data": {"name": "graph_npz", "root": str(tmp_path / "photo.npz")}}
    code = main(["run", str(write_pipeline(tmp_path / "p.yaml", raw)), "--run-dir", str(tmp_path / "run")])
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("ssl-kd: error")]
    assert code != 0 and len(errors) == 1 and "photo.npz: not a readable .npz archive" in errors[0]
    assert "Traceback" not in stderr


def test_a_missing_root_and_a_bad_graph_name_are_config_errors(tmp_path: Path) -> None:
    raw = {**TINY_GRAPH, "stages": TINY_GRAPH["stages"][:1]}
    raw["defaults"] = {**raw["defaults"], "data": {"name": "planetoid", "root": str(tmp_path / "nowhere")}}
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw), ["data.graph=Cora"])
    with pytest.raises(ConfigError, match="not a Planetoid graph"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw), [f"data.root={tmp_path}", "data.graph=Corra"])


def test_npz_graph_folder_and_name(tmp_path: Path) -> None:
    write_npz(tmp_path / "tiny.npz")
    raw = {**TINY_GRAPH, "stages": TINY_GRAPH["stages"][:1]}
    raw["defaults"] = {**raw["defaults"], "data": {"name": "graph_npz", "root": str(tmp_path), "graph": "tiny"}}
    cfg = load_pipeline(
        write_pipeline(tmp_path / "p.yaml", raw), ["data.labels_per_class=1", "data.validation_per_class=1"]
    )
    graph = NodeClassification().load(cfg.stage("gcn")).splits
    assert graph.num_nodes == 6 and "knn" not in cfg.stage("gcn").data.model_dump()


def test_a_graph_method_on_image_data_is_refused(tmp_path: Path) -> None:
    raw = {**TINY_GRAPH, "stages": [{**TINY_GRAPH["stages"][0], "data": {"name": "digits"}}]}
    with pytest.raises(ConfigError, match="image_classification"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))


def test_the_teacher_early_stops_on_validation_accuracy_and_keeps_its_best_state(
    tiny_graph_run: tuple[Path, list],
) -> None:
    root, outcomes = tiny_graph_run
    metrics = outcomes[0].metrics
    history = json.loads((root / "run" / "gcn" / "history.json").read_text())
    assert len(history) == metrics["stopped_epoch"] and metrics["best_epoch"] <= metrics["stopped_epoch"]
    assert max(record["val_accuracy"] for record in history) == pytest.approx(metrics["best_val_accuracy"])
    teacher, _ = load_saved_model(root / "run" / "gcn")
    graph = NodeClassification().load(load_pipeline(root / "graph.yaml").stage("gcn")).splits
    with torch.no_grad():
        predicted = teacher.eval()(inputs_of(graph)).argmax(dim=1)
    val = (predicted[graph.validation] == graph.labels[graph.validation]).float().mean().item()
    assert val == pytest.approx(metrics["best_val_accuracy"])  # the saved model is the best validation state


class _Interrupted(Exception):
    pass


def test_an_interrupted_cpf_stage_resumes_to_identical_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    teacher = {**TINY_GRAPH["stages"][0], "epochs": 5}
    student = {**TINY_GRAPH["stages"][1], "epochs": 40, "early_stopping": {"metric": "val_accuracy", "patience": 8}}
    raw = {**TINY_GRAPH, "stages": [teacher, student]}
    raw["defaults"] = {**raw["defaults"], "engine": {**raw["defaults"]["engine"], "checkpoint_every": 1}}
    pipeline = load_pipeline(write_pipeline(tmp_path / "graph.yaml", raw))
    fresh = Scheduler(pipeline, tmp_path / "fresh").run()

    def stop(self: CPF, epoch: int) -> None:
        if epoch == 11:  # the checkpoint of step 11 is written after this hook, so the run resumes from step 10
            raise _Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(CPF, "on_epoch_end", stop)
        with pytest.raises(_Interrupted):
            Scheduler(pipeline, tmp_path / "killed").run()
    resumed = Scheduler(pipeline, tmp_path / "killed").run()
    assert [outcome.action for outcome in resumed] == ["skipped", "resumed"]
    assert resumed[1].metrics == pytest.approx(fresh[1].metrics, rel=1e-6, abs=1e-7)
    killed, fresh_gates = (read_gates(tmp_path / run / "cpf_ind" / "gates.csv") for run in ("killed", "fresh"))
    assert [row[:-1] for row in killed] == [row[:-1] for row in fresh_gates]  # ids, splits, labels, predictions
    # the gates are written with 6 decimals: a last-bit float difference can move the sixth across a rounding edge
    assert [float(row[-1]) for row in killed] == pytest.approx([float(row[-1]) for row in fresh_gates], abs=2e-6)


def read_gates(path: Path) -> list[list[str]]:
    """``gates.csv``'s rows without the header; the gate is the last column."""
    with path.open(newline="") as handle:
        return list(csv.reader(handle))[1:]
