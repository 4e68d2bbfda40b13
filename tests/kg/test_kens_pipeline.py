"""KEnS as a pipeline: a tiny embed -> ensemble run on views of Nations, resume state, weights, config errors."""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from ssl_kd.cli import main
from ssl_kd.config import load_pipeline
from ssl_kd.engine.checkpoint import load_checkpoint
from ssl_kd.errors import ConfigError
from ssl_kd.kg.kens.ensemble_stage import learn_view_weights
from ssl_kd.kg.kens.method import KEnS
from ssl_kd.kg.kens.model import KEnSModel
from ssl_kd.models.saved import load_saved_model
from ssl_kd.report import build_report
from ssl_kd.scheduler import Scheduler
from ssl_kd.stages.base import StageContext
from ssl_kd.stages.train import build_training

from conftest import write_pipeline

TINY_KENS = {
    "name": "tiny_kens",
    "defaults": {
        "data": {
            "name": "kg_views",
            "source": "nations",
            "num_views": 3,
            "share": 0.6,
            "seed_fraction": 0.3,
            "batch_size": 256,
            "num_negatives": 8,
        },
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 3, "log_every": 1},
    },
    "stages": [
        {
            "name": "embed",
            "kind": "train",
            "method": "kens",
            "model": {"arch": "transe", "options": {"dim": 16, "gamma": 6.0}},
            "epochs": 2,
            "epochs_per_round": 1,
            "self_learning_rounds": 1,
            "align_batch_size": 32,
            "optim": {"name": "adamw", "lr": 0.01, "weight_decay": 0.0},
        },
        {"name": "ensemble", "kind": "kens_ensemble", "model": {"from": "embed"}, "top_k": 5},
    ],
}


def _actions(outcomes) -> dict[str, str]:
    return {outcome.name: outcome.action for outcome in outcomes}


@pytest.fixture(scope="module")
def finished_kens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("kens")
    path = write_pipeline(root / "tiny_kens.yaml", TINY_KENS)
    outcomes = Scheduler(load_pipeline(path), root / "run").run()
    assert _actions(outcomes) == {"embed": "ran", "ensemble": "ran"}
    return path, root / "run"


def test_pipeline_writes_every_metric(finished_kens: tuple[Path, Path]) -> None:
    _, run = finished_kens
    results = json.loads((run / "results.json").read_text())
    embed, ensemble = results["embed"], results["ensemble"]
    for v in range(3):
        for key in ("mrr", "hits_at_1", "hits_at_3", "hits_at_10"):
            assert 0 <= embed[f"view{v}_test_{key}"] <= 1
        for name in ("single", "majority", "mrr", "weighted", "boosting"):
            for key in ("hits_at_1", "hits_at_3", "hits_at_10", "mrr"):
                assert 0 <= ensemble[f"view{v}_{name}_{key}"] <= 1
    assert embed["mean_test_hits_at_10"] == pytest.approx(sum(embed[f"view{v}_test_hits_at_10"] for v in range(3)) / 3)
    assert 0 <= embed["align_precision_round1"] <= 1 and embed["align_new_links_round1"] > 0
    assert "align_precision_round2" not in embed  # one round only
    for name in ("majority", "mrr", "weighted", "boosting"):
        assert 0 <= ensemble[f"views_where_{name}_beats_single"] <= 3
    weights = json.loads((run / "ensemble" / "weights.json").read_text())
    assert weights["view0_weighted"] == pytest.approx([1.0, 0.3, 0.3])


def test_rerun_skips(finished_kens: tuple[Path, Path], tmp_path: Path) -> None:
    path, run = finished_kens
    copied = tmp_path / "run"
    shutil.copytree(run, copied)
    outcomes = Scheduler(load_pipeline(path), copied).run()
    assert _actions(outcomes) == {"embed": "skipped", "ensemble": "skipped"}


def test_report_builds_without_image_features(finished_kens: tuple[Path, Path], tmp_path: Path) -> None:
    _, run = finished_kens
    copied = tmp_path / "run"
    shutil.copytree(run, copied)
    assert build_report(copied).is_file()


def test_link_set_survives_a_checkpoint_round_trip(finished_kens: tuple[Path, Path], tmp_path: Path) -> None:
    path, run = finished_kens
    state = load_checkpoint(run / "embed" / "checkpoints" / "last.pt")["method"]
    saved_model, _ = load_saved_model(run / "embed")
    assert isinstance(saved_model, KEnSModel)
    assert torch.equal(saved_model.links, state["model.links"])
    assert int(state["model.link_round"].max()) == 1  # the self-learned links are there
    cfg = load_pipeline(path).stage("embed")
    ctx = StageContext(tmp_path, tmp_path / "embed", "fresh", logging.getLogger("test"))
    training = build_training(cfg, ctx)
    method = training.method
    assert len(method.model.links) < len(state["model.links"])  # a fresh method has the seed links only
    method.load_trainable_state_dict(state)
    assert torch.equal(method.model.links, state["model.links"])
    assert int(method.rounds_done) == 1
    embed = json.loads((run / "results.json").read_text())["embed"]
    metrics = method.extra_metrics()
    assert metrics["align_precision_round1"] == embed["align_precision_round1"]
    assert metrics["align_links"] == embed["align_links"]


def test_ensemble_weights_on_a_hand_made_case() -> None:
    # 4 validation queries over 6 entities; the target model always lists the true tail first, supporter 1 never
    # lists it, supporter 2 lists it second.
    true = torch.tensor([0, 1, 2, 3])
    heads = torch.tensor([4, 4, 5, 5])
    target = torch.stack([true, (true + 1) % 6], dim=1)
    wrong = torch.stack([(true + 2) % 6, (true + 3) % 6], dim=1)
    second = torch.stack([(true + 4) % 6, true], dim=1)
    weights = learn_view_weights(
        ["majority", "weighted", "mrr", "boosting"], [target, wrong, second], true, heads, 6, 0.3, min_triples=1
    )
    assert weights["majority"].tolist() == [1.0, 1.0, 1.0]
    assert weights["weighted"].tolist() == pytest.approx([1.0, 0.3, 0.3])
    assert weights["mrr"].tolist() == pytest.approx([1.0, 0.0, 0.5])
    boosted = weights["boosting"]
    assert boosted.shape == (6, 3)
    assert boosted[:4].tolist() == [[1.0, 1.0, 1.0]] * 4  # entities with too few triples keep 1
    assert boosted[4, 0] > boosted[4, 2] > boosted[4, 1]  # the always-right model weighs most


def _pipeline_with(tmp_path: Path, **data) -> Path:
    raw = copy.deepcopy(TINY_KENS)
    raw["defaults"]["data"].update(data)
    return write_pipeline(tmp_path / "bad.yaml", raw)


def test_bad_data_option_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.share"):
        load_pipeline(_pipeline_with(tmp_path, share=1.5))
    with pytest.raises(ConfigError, match=r"data\.source.*not an option of dataset 'dbp5l'"):
        load_pipeline(_pipeline_with(tmp_path, name="dbp5l", root=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"unknown source KG 'nation'"):
        load_pipeline(_pipeline_with(tmp_path, source="nation"))


def test_dbp5l_without_root_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = copy.deepcopy(TINY_KENS)
    raw["defaults"]["data"] = {"name": "dbp5l"}
    path = write_pipeline(tmp_path / "dbp5l.yaml", raw)
    assert main(["run", str(path), "--run-dir", str(tmp_path / "run"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs data.root" in err[0] and "dbp5l" in err[0]


def test_interrupted_run_resumes_exactly(
    finished_kens: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after the self-learning round and a checkpoint, then resumed: the uninterrupted run's links, weights."""
    path, run = finished_kens
    original = KEnS.step
    calls = {"n": 0}

    def failing_step(self: KEnS, inputs, phase: int):
        calls["n"] += 1
        if calls["n"] == 17:  # epoch 1 ends at step 11 (round 1); checkpoints every 3 steps: the last at 15
            raise KeyboardInterrupt
        return original(self, inputs, phase)

    monkeypatch.setattr(KEnS, "step", failing_step)
    with pytest.raises(KeyboardInterrupt):
        Scheduler(load_pipeline(path), tmp_path / "run").run()
    assert load_checkpoint(tmp_path / "run" / "embed" / "checkpoints" / "last.pt")["step"] == 15
    monkeypatch.setattr(KEnS, "step", original)
    Scheduler(load_pipeline(path), tmp_path / "run").run()
    resumed, _ = load_saved_model(tmp_path / "run" / "embed")
    uninterrupted, _ = load_saved_model(run / "embed")
    assert torch.equal(resumed.links, uninterrupted.links)
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
