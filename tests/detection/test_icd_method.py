"""The icd and fpn_mimic methods on tiny detectors: the warm-up switch, the auxiliary optimiser, frozen teachers,
and a tiny teacher -> fpn_mimic -> icd pipeline through the scheduler."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from ssl_kd.config import load_pipeline
from ssl_kd.detection.domain import DetectionBatch, DetectionFacts
from ssl_kd.detection.icd import flatten_levels
from ssl_kd.detection.methods.icd import ICD, ICDConfig
from ssl_kd.detection.models import Detector
from ssl_kd.engine.method import MethodEnv
from ssl_kd.errors import ConfigError
from ssl_kd.models.saved import load_saved_model
from ssl_kd.scheduler import Scheduler
from ssl_kd.stages.base import StageContext
from ssl_kd.stages.train import build_training

from conftest import write_pipeline

TEACHER = {"arch": "retinanet", "options": {"backbone": "resnet18", "fpn_channels": 64}}
STUDENT = {"arch": "retinanet", "options": {"backbone": "resnet18", "fpn_channels": 32}}
FACTS = DetectionFacts(
    num_classes=3,
    class_names=("a", "b", "c"),
    image_size=64,
    box_stats=torch.tensor([[0.3, 0.3, 0.05, 0.05]] * 3),
    class_frequency=torch.full((3,), 1 / 3),
)
BATCH = DetectionBatch(
    torch.rand(2, 3, 64, 64),
    [torch.tensor([[8.0, 8.0, 30.0, 34.0], [36.0, 30.0, 60.0, 58.0]]), torch.tensor([[20.0, 4.0, 44.0, 28.0]])],
    [torch.tensor([1, 3]), torch.tensor([2])],
)


def icd_method(tmp_path: Path, **changes: object) -> ICD:
    fields = {"student": STUDENT, "teacher": TEACHER, "hidden": 32, "data": {"root": tmp_path}} | changes
    cfg = ICDConfig(name="icd", method="icd", **fields)
    ctx = StageContext(tmp_path, tmp_path / "icd", "", logging.getLogger("test"))
    return ICD(cfg, MethodEnv(FACTS, load_model=ctx.load_model))


def student_mimic_gradients(method: ICD) -> list[torch.Tensor | None]:
    mimic = method.training_step(BATCH)["mimic"]
    return list(torch.autograd.grad(mimic, [*method.student.parameters(), method.student_values.weight],
                                    allow_unused=True))  # fmt: skip


def test_warmup_keeps_distillation_off_the_student_then_switches_it_on(tmp_path: Path) -> None:
    method = icd_method(tmp_path, warmup_steps=2)
    method.on_step_end(0)
    assert not method.distilling
    *student, projection = student_mimic_gradients(method)
    assert all(grad is None for grad in student)  # the student FPN entered the mimic loss detached
    assert projection is not None and projection.abs().sum() > 0  # W_v^s learns during the warm-up
    method.on_step_end(1)
    assert method.distilling
    *student, _ = student_mimic_gradients(method)
    assert any(grad is not None and grad.abs().sum() > 0 for grad in student)


@pytest.mark.parametrize("distill_negative", [False, True])
def test_the_mimic_mask_holds_real_instances_or_with_negatives_every_valid_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, distill_negative: bool
) -> None:
    method = icd_method(tmp_path, distill_negative=distill_negative)
    seen: dict[str, torch.Tensor] = {}
    sample = method.sampler.forward

    def recording_sampler(*args: object) -> object:
        seen["queries"] = queries = sample(*args)
        return queries

    def recording_mimic(values: torch.Tensor, teacher: torch.Tensor, logits: torch.Tensor, members: torch.Tensor):
        seen["members"] = members
        return values.sum() * 0

    monkeypatch.setattr(method.sampler, "forward", recording_sampler)
    monkeypatch.setattr(method.mimic, "forward", recording_mimic)
    method.training_step(BATCH)
    queries = seen["queries"]
    assert (queries.valid & ~queries.real).any()  # the batch has fake queries to leave out or take in
    assert torch.equal(seen["members"], queries.valid if distill_negative else queries.real)


@pytest.mark.parametrize("norm", ["ln", "tln", "none"])
def test_distill_norm_reaches_the_mimic_loss(tmp_path: Path, norm: str) -> None:
    assert icd_method(tmp_path, distill_norm=norm).mimic.norm == norm


def test_an_unknown_distill_norm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="distill_norm"):
        icd_method(tmp_path, distill_norm="batch")


def test_the_warmup_position_is_checkpointed(tmp_path: Path) -> None:
    method = icd_method(tmp_path, warmup_steps=3)
    for step in range(3):
        method.on_step_end(step)
    resumed = icd_method(tmp_path, warmup_steps=3)
    resumed.load_trainable_state_dict(method.trainable_state_dict())
    assert resumed.distilling and resumed.steps_done.value == 3


def test_the_teacher_is_frozen_and_left_out_of_the_checkpoint(tmp_path: Path) -> None:
    method = icd_method(tmp_path)
    assert not any(p.requires_grad for p in method.teacher.parameters())
    assert not any(key.startswith("teacher.") for key in method.trainable_state_dict())
    terms = method.training_step(BATCH)
    assert {"classification", "bbox_regression", "mimic", "identification", "localisation"} <= set(terms)
    assert all(torch.isfinite(value) and value.dim() == 0 for value in terms.values())


def test_levels_of_other_strides_are_refused(tmp_path: Path) -> None:
    student = {"arch": "retinanet", "options": {"backbone": "mobilenet_v3_small", "fpn_channels": 32}}
    with pytest.raises(ConfigError, match="strides"):
        icd_method(tmp_path, student=student)


TINY = {
    "name": "tiny_icd",
    "defaults": {
        "data": {"batch_size": 4, "eval_batch_size": 8, "image_size": 64, "train_canvases": 8, "test_canvases": 4},
        "engine": {"progress": False, "tensorboard": False, "checkpoint_every": 1, "log_every": 1, "device": "cpu"},
        "optim": {"lr": 0.01},
        "epochs": 1,
    },
    "stages": [
        {"name": "teacher", "method": "detector", "model": TEACHER},
        {"name": "fpn_mimic", "method": "fpn_mimic", "student": STUDENT, "teacher": {"from": "teacher"}},
        {"name": "icd", "method": "icd", "student": STUDENT, "teacher": {"from": "teacher"}, "hidden": 32,
         "warmup_steps": 1},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_icd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("icd")
    raw = json.loads(json.dumps(TINY))
    raw["defaults"]["data"]["root"] = str(root)
    path = write_pipeline(root / "icd.yaml", raw)
    return path, Scheduler(load_pipeline(path), root / "run").run()


def test_the_pipeline_reports_box_ap_for_every_stage(tiny_icd_run: tuple[Path, list]) -> None:
    path, outcomes = tiny_icd_run
    assert [outcome.name for outcome in outcomes] == ["teacher", "fpn_mimic", "icd"]
    for outcome in outcomes:
        assert 0 <= outcome.metrics["test_ap50"] <= 1 and outcome.metrics["steps"] == 2
    run = path.parent / "run"
    assert "mimic" in json.loads((run / "fpn_mimic" / "history.json").read_text())[0]
    assert {"mimic", "identification", "localisation"} <= set(json.loads((run / "icd" / "history.json").read_text())[0])
    student, _ = load_saved_model(run / "icd")
    assert isinstance(student, Detector) and student.fpn_channels == 32  # the output model is the student
    state = torch.load(run / "icd" / "checkpoints" / "last.pt", weights_only=True)
    assert int(state["method"]["steps_done.count"]) == 2
    assert not any(key.startswith("teacher.") for key in state["method"])
    assert "auxiliary" in state["own_optimizers"]


def test_auxiliary_modules_train_under_their_own_adamw_only(tiny_icd_run: tuple[Path, list], tmp_path: Path) -> None:
    path, _ = tiny_icd_run
    cfg = load_pipeline(path).stage("icd")
    training = build_training(cfg, StageContext(path.parent / "run", tmp_path, "check", logging.getLogger("test")))
    method, trainer = training.method, training.trainer
    auxiliary = {id(p) for module in method.auxiliary_modules() for p in module.parameters()}
    main = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert main == {id(p) for p in method.student.parameters()} and not main & auxiliary
    optimizer, own = trainer.own_optimizers["auxiliary"]
    assert isinstance(optimizer, torch.optim.AdamW) and own.grad_clip == 0.01
    assert {id(p) for group in optimizer.param_groups for p in group["params"]} == auxiliary
    assert trainer.own_base_lrs["auxiliary"][0] == pytest.approx(1e-4)
    assert isinstance(trainer.optimizer, torch.optim.SGD)


def test_extra_auxiliary_updates_step_the_decoder_k_times_and_the_student_once(
    tiny_icd_run: tuple[Path, list], tmp_path: Path
) -> None:
    path, _ = tiny_icd_run
    cfg = load_pipeline(path).stage("icd").model_copy(update={"aux_updates": 3})
    training = build_training(cfg, StageContext(path.parent / "run", tmp_path, "check", logging.getLogger("test")))
    method, trainer = training.method, training.trainer
    assert method.update_phases == 3 and method.find_unused_parameters
    auxiliary, _ = trainer.own_optimizers["auxiliary"]
    steps = {"student": 0, "auxiliary": 0}
    trainer.optimizer.register_step_post_hook(lambda *_: steps.update(student=steps["student"] + 1))
    auxiliary.register_step_post_hook(lambda *_: steps.update(auxiliary=steps["auxiliary"] + 1))
    sampled = []
    sample = method.sampler.forward
    method.sampler.forward = lambda *args: sampled.append(sample(*args)) or sampled[-1]
    terms = trainer._train_step(next(iter(trainer.loader)))
    assert steps == {"student": 1, "auxiliary": 3}
    assert len(sampled) == 3 and not torch.equal(sampled[0].boxes, sampled[1].boxes)  # fresh fake queries each phase
    assert method._teacher_levels is None  # the batch's teacher levels are released after its last phase
    assert {"mimic", "identification", "localisation"} <= set(terms) and method.steps_done.value == 1


@torch.no_grad()
def auxiliary_loss(method: ICD, levels: list[torch.Tensor], boxes: list, labels: list) -> float:
    """L_aux of the whole cached training set under fixed fake queries."""
    torch.manual_seed(0)
    queries = method.sampler(boxes, labels, method.image_size)
    decoded = method.decoder(method.encoder(queries), flatten_levels(levels), method.positions(levels))
    return float(sum(method.auxiliary_terms(queries, *method.heads(decoded.instances)).values()))


def test_decoder_pretraining_trains_the_auxiliary_task_alone_before_the_first_step(
    tiny_icd_run: tuple[Path, list], tmp_path: Path
) -> None:
    path, _ = tiny_icd_run
    cfg = load_pipeline(path).stage("icd")
    cfg = cfg.model_copy(
        update={"decoder_pretrain_steps": 40, "aux_optim": cfg.aux_optim.model_copy(update={"lr": 3e-3})}
    )
    training = build_training(cfg, StageContext(path.parent / "run", tmp_path, "check", logging.getLogger("test")))
    method = training.method
    levels, boxes, labels = method.training_teacher_levels()
    assert len(boxes) == 8 and [level.shape[0] for level in levels] == [8] * len(levels)
    torch.testing.assert_close(
        levels[0][:1], method.teacher_levels(method.env.data.train.load(0)[None].float() / 255)[0], atol=1e-4, rtol=1e-4
    )
    student = [p.detach().clone() for p in method.student.parameters()]
    projection = method.student_values.weight.detach().clone()
    before = auxiliary_loss(method, levels, boxes, labels)
    method.on_train_start()
    after = auxiliary_loss(method, levels, boxes, labels)
    assert after < 0.9 * before
    assert all(torch.equal(a, b) for a, b in zip(student, method.student.parameters(), strict=True))
    assert torch.equal(projection, method.student_values.weight)  # W_v^s reads the student: it waits for it


def test_a_resumed_stage_does_not_pretrain_its_decoder_again(tiny_icd_run: tuple[Path, list], tmp_path: Path) -> None:
    path, _ = tiny_icd_run
    cfg = load_pipeline(path).stage("icd").model_copy(update={"decoder_pretrain_steps": 3})
    calls = []
    for _ in range(2):
        training = build_training(cfg, StageContext(path.parent / "run", tmp_path, "check", logging.getLogger("test")))
        pretrain = training.method.pretrain_decoder
        training.method.pretrain_decoder = lambda steps, pretrain=pretrain: calls.append(steps) or pretrain(steps)
        training.trainer.fit()
    assert calls == [3]  # the second fit resumed from the first one's checkpoint


def test_decoder_pretraining_left_at_zero_stays_out_of_the_fingerprint(tmp_path: Path) -> None:
    fields = {"name": "icd", "method": "icd", "student": STUDENT, "teacher": TEACHER, "data": {"root": tmp_path}}
    assert "decoder_pretrain_steps" not in ICDConfig(**fields).model_dump()  # runs from before the option stay valid
    assert ICDConfig(**fields, decoder_pretrain_steps=5).model_dump()["decoder_pretrain_steps"] == 5


def test_decoder_pretraining_refuses_a_cache_that_would_not_fit(
    tiny_icd_run: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ssl_kd.detection.methods import icd

    path, _ = tiny_icd_run
    cfg = load_pipeline(path).stage("icd").model_copy(update={"decoder_pretrain_steps": 3})
    training = build_training(cfg, StageContext(path.parent / "run", tmp_path, "check", logging.getLogger("test")))
    monkeypatch.setattr(icd, "PRETRAIN_CACHE_BYTES", 1024)
    with pytest.raises(ConfigError, match=r"decoder_pretrain_steps keeps the teacher's FPN .* 8 images x"):
        training.method.on_train_start()
