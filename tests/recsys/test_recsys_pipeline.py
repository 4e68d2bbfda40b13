"""Tiny recommendation pipelines end to end through the Scheduler (BPR-MF teacher -> HTD and FTD students), the
model file, the loader's negatives, HTD's group machinery, and the errors a user meets first."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from ssl_kd.config import load_pipeline
from ssl_kd.engine.method import MethodEnv
from ssl_kd.errors import ConfigError, DataError
from ssl_kd.losses.topology import FullTopologyLoss, cosine_matrix
from ssl_kd.models.saved import load_saved_model
from ssl_kd.recsys.domain import InteractionBatch, NegativeSampledInteractions, RecFacts
from ssl_kd.recsys.groups import GroupProjectors
from ssl_kd.recsys.methods.htd import HTD, HTDConfig
from ssl_kd.recsys.models import BPRMF
from ssl_kd.scheduler import Scheduler

from conftest import REPO, kill_once_checkpointed, run_command, write_pipeline

METRICS = [f"test_{name}_at_{k}" for k in (10, 20, 50) for name in ("precision", "recall", "ndcg")]


def tiny_udata(path: Path, users: int = 40, items: int = 60, per_user: int = 12) -> Path:
    generator = torch.Generator().manual_seed(0)
    lines = []
    for user in range(users):
        taste = (user % 4) * 15  # four blocks of items, so that there is something to learn
        chosen = torch.randperm(15, generator=generator)[: per_user - 2] + taste
        extra = torch.randint(0, items, (2,), generator=generator)
        lines += [f"{user}\t{int(item)}\t4\t{k}" for k, item in enumerate(torch.cat([chosen, extra]).tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_pipeline(root: Path) -> dict:
    return {
        "name": "tiny_rec",
        "defaults": {
            "data": {"name": "movielens_udata", "root": str(root), "batch_size": 64, "eval_batch_size": 16},
            "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 5, "log_every": 5, "device": "cpu"},
            "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 1e-3, "schedule": "constant"},
            "epochs": 2,
        },
        "stages": [
            {
                "name": "teacher",
                "method": "bpr",
                "model": {"arch": "bpr_mf", "options": {"dim": 16}},
                "epochs": 3,
                "early_stopping": {"metric": "val_ndcg_at_10", "every": 1, "patience": 5},
            },
            {
                "name": "htd",
                "method": "htd",
                "num_groups": 3,
                "student": {"arch": "bpr_mf", "options": {"dim": 4}},
                "teacher": {"from": "teacher"},
            },
            {
                "name": "ftd",
                "method": "htd",
                "topology": "ftd",
                "student": {"arch": "bpr_mf", "options": {"dim": 4}},
                "teacher": {"from": "teacher"},
            },
        ],
    }


@pytest.fixture(scope="module")
def tiny_rec_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("rec")
    data = tiny_udata(root / "u.data")
    path = write_pipeline(root / "rec.yaml", tiny_pipeline(data))
    return root, Scheduler(load_pipeline(path), root / "run").run()


def test_every_stage_reports_full_ranking_metrics(tiny_rec_run: tuple[Path, list]) -> None:
    root, outcomes = tiny_rec_run
    assert [outcome.name for outcome in outcomes] == ["teacher", "htd", "ftd"]
    for outcome in outcomes:
        metrics = outcome.metrics
        assert all(0 <= metrics[key] <= 1 for key in METRICS), outcome.name
        assert metrics["test_recall_at_10"] <= metrics["test_recall_at_20"] <= metrics["test_recall_at_50"]
        assert metrics["test_users"] == 40 and metrics["steps"] == 6 * (3 if outcome.name == "teacher" else 2)
    htd_history = json.loads((root / "run/htd/history.json").read_text())[0]
    assert {"bpr", "entity_topology", "group_topology", "group_assignment"} <= set(htd_history)
    assert "ftd" in json.loads((root / "run/ftd/history.json").read_text())[0]


def test_early_stopping_watches_the_validation_ranking(tiny_rec_run: tuple[Path, list]) -> None:
    root, outcomes = tiny_rec_run
    teacher = outcomes[0].metrics
    history = json.loads((root / "run/teacher/history.json").read_text())
    validations = [record["val_ndcg_at_10"] for record in history]
    assert 1 <= teacher["best_epoch"] <= 3 and teacher["best_val_ndcg_at_10"] == max(validations)
    assert {"val_ndcg_at_10", "val_precision_at_20", "val_users"} <= set(history[0])


def test_the_teacher_is_frozen_and_the_student_is_the_output(tiny_rec_run: tuple[Path, list]) -> None:
    run = tiny_rec_run[0] / "run"
    state = torch.load(run / "htd" / "checkpoints" / "last.pt", weights_only=True)["method"]
    assert not any(key.startswith("teacher.") for key in state)
    assert {"user_assigner.linear.weight", "item_projectors.second"} <= set(state)
    student, meta = load_saved_model(run / "htd")
    teacher, _ = load_saved_model(run / "teacher")
    assert isinstance(student, BPRMF) and (student.dim, teacher.dim) == (4, 16)
    assert student.spec() == {
        "arch": "bpr_mf",
        "options": {"num_users": 40, "num_items": 60, "dim": 4, "init_std": 0.01},
    }
    assert meta["dataset"] == "movielens_udata" and meta["users"][:3] == ["0", "1", "2"] and len(meta["items"]) == 60
    assert teacher.embedding_parameters == 4 * student.embedding_parameters


def test_sigkill_during_htd_resumes_to_identical_metrics(tmp_path: Path) -> None:
    raw = tiny_pipeline(tiny_udata(tmp_path / "u.data"))
    htd = {**raw["stages"][1], "epochs": 4, "early_stopping": {"metric": "val_recall_at_20", "every": 1, "patience": 4}}
    raw["stages"] = [{**raw["stages"][0], "epochs": 1, "early_stopping": None}, htd]
    raw["defaults"]["engine"] |= {"checkpoint_every": 1}
    pipeline = write_pipeline(tmp_path / "rec.yaml", raw)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    killed, fresh = tmp_path / "killed", tmp_path / "fresh"
    command = run_command(pipeline, killed, "--no-report")
    kill_once_checkpointed(command, killed / "htd" / "checkpoints" / "last.pt", env)
    resumed_outcomes = Scheduler(load_pipeline(pipeline), killed).run()  # resumed in this process, as is the fresh run
    fresh_outcomes = Scheduler(load_pipeline(pipeline), fresh).run()
    assert [outcome.action for outcome in resumed_outcomes] == ["skipped", "resumed"]
    assert resumed_outcomes[1].metrics == pytest.approx(fresh_outcomes[1].metrics, rel=1e-6, abs=1e-7)


def test_negatives_are_never_training_positives_and_follow_the_seed() -> None:
    train = torch.tensor([[0, 0], [0, 1], [0, 2], [1, 3]])
    dataset = NegativeSampledInteractions(train, num_items=5)
    batch = dataset[[(0, 7), (1, 8), (2, 9), (3, 10)]].inputs
    assert not dataset.is_positive(batch.users, batch.negatives).any()
    assert set(batch.negatives[:3].tolist()) <= {3, 4} and batch.negatives[3].item() != 3
    again = dataset[[(0, 7), (1, 8), (2, 9), (3, 10)]].inputs
    assert torch.equal(batch.negatives, again.negatives)
    assert batch.batch_users.tolist() == [0, 1] and set(batch.batch_items.tolist()) >= {0, 1, 2, 3}


def test_projector_mixture_equals_the_sum_of_weighted_projections() -> None:
    torch.manual_seed(0)
    projectors = GroupProjectors(num_groups=3, student_dim=4, teacher_dim=6)
    student, weights = torch.randn(5, 4), torch.softmax(torch.randn(5, 3), 1)
    explicit = (projectors.project(student) * weights.unsqueeze(-1)).sum(1)
    assert torch.allclose(projectors(student, weights), explicit, atol=1e-6)


def tiny_htd(**switches: object) -> tuple[HTD, BPRMF, InteractionBatch]:
    """An HTD method with a 3-d student over a 12-d teacher of 6 users and 8 items, and one batch of 18 interactions."""
    torch.manual_seed(0)
    teacher = BPRMF(6, 8, dim=12)
    cfg = HTDConfig(
        name="htd", method="htd", student={"arch": "bpr_mf", "options": {"dim": 3}}, teacher={"from": "t"}, **switches
    )
    method = HTD(cfg, MethodEnv(RecFacts(6, 8, "tiny"), lambda spec: teacher))
    dataset = NegativeSampledInteractions(torch.tensor([[u, (u + k) % 8] for u in range(6) for k in range(3)]), 8)
    return method, teacher, dataset[[(i, i) for i in range(18)]].inputs


@pytest.mark.parametrize("shared_groups", [False, True])
def test_an_htd_step_reaches_every_trainable_parameter(shared_groups: bool) -> None:
    method, _, batch = tiny_htd(num_groups=2, shared_groups=shared_groups)
    terms = method.step(batch, 0)
    sum(terms.values()).backward()
    missing = [name for name, p in method.trainable_named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == [] and not any(p.requires_grad for p in method.teacher.parameters())


@pytest.mark.parametrize("shared_groups", [False, True])
def test_shared_groups_add_the_user_item_pairs_to_the_entity_level(shared_groups: bool) -> None:
    """With one group and every pair kept, the entity level is FTD's sum over the batch's nodes when users and items
    share the group, and FTD minus the user-item pairs when they do not (the code's separate groups)."""
    method, teacher, batch = tiny_htd(
        num_groups=1, shared_groups=shared_groups, positive_teacher_pairs_only=False, lambda_td=1.0, alpha=1.0
    )
    entity = method.step(batch, 0)["entity_topology"]
    users, items = batch.batch_users, batch.batch_items
    student = torch.cat([method.student.user(users), method.student.item(items)])
    full_topology = FullTopologyLoss()(student, torch.cat([teacher.user(users), teacher.item(items)]))
    teacher_cross = cosine_matrix(teacher.user(users), teacher.item(items))
    student_cross = cosine_matrix(method.student.user(users), method.student.item(items))
    user_item_pairs = 2 * (teacher_cross - student_cross).pow(2).sum()  # (u, i) and (i, u)
    expected = full_topology if shared_groups else full_topology - user_item_pairs
    assert user_item_pairs > 0 and torch.allclose(entity, expected, rtol=1e-5)
    assert hasattr(method, "item_assigner") is not shared_groups


def test_malformed_interactions_are_one_line_naming_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "u.data"
    data.write_text("1\t2\t5\t0\n1\t3\n")
    raw = {**tiny_pipeline(data), "stages": tiny_pipeline(data)["stages"][:1]}
    pipeline = load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))
    with pytest.raises(DataError) as error:
        Scheduler(pipeline, tmp_path / "run").run()
    assert str(error.value).startswith(f"{data}:2: expected 4") and "\n" not in str(error.value)


def test_a_missing_data_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", tiny_pipeline(tmp_path / "nowhere")))


def test_a_recommender_method_on_image_data_is_refused(tmp_path: Path) -> None:
    raw = tiny_pipeline(tmp_path)
    raw["stages"] = [{**raw["stages"][0], "data": {"name": "digits"}}]
    with pytest.raises(ConfigError, match="image_classification"):
        load_pipeline(write_pipeline(tmp_path / "p.yaml", raw))


def test_the_shipped_pipeline_validates_with_user_paths(tmp_path: Path) -> None:
    pipeline = load_pipeline(REPO / "pipelines" / "htd_ml100k.yaml")
    assert pipeline.stages[0].name == "teacher" and len(pipeline.stages) == 7
    data = tiny_udata(tmp_path / "u.data")
    overridden = load_pipeline(
        REPO / "pipelines" / "htd_ml100k.yaml", ["data.name=movielens_udata", f"data.root={data}"]
    )
    assert all(stage.data.name == "movielens_udata" for stage in overridden.stages)
