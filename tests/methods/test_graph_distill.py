"""Graph distillation: the switches, gradient flow, checkpoint contents, references."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from kd_helpers import classification_facts

from ssl_kd.config.schema import ModelSpec
from ssl_kd.data.base import UNLABELLED
from ssl_kd.methods.base import MethodEnv
from ssl_kd.methods.graph_distill import GraphDistill, GraphDistillConfig
from ssl_kd.models import BackboneModel, build_model

TEACHERS = [{"arch": "r2plus1d", "options": {"width": 4}}, {"arch": "r2plus1d", "options": {"width": 6}}]


def build(**keys: Any) -> GraphDistill:
    raw = {
        "name": "g",
        "kind": "train",
        "method": "graph_distill",
        "student": {"arch": "r2plus1d", "options": {"width": 2}},
        "teachers": TEACHERS,
        "rep_dim": 64,
        "data": {"name": "video"},
        **keys,
    }

    def load(spec: ModelSpec, num_classes: int | None) -> BackboneModel:
        return build_model(spec.arch, num_classes or 0, **spec.options)

    torch.manual_seed(0)
    return GraphDistill(
        GraphDistillConfig.model_validate(raw), MethodEnv(facts=classification_facts(8), load_model=load)
    )


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.randn(4, 4, 3, 16, 16), torch.arange(4)


def test_sketches_are_checkpointed_and_frozen_teachers_are_not() -> None:
    method = build()
    state = method.trainable_state_dict()
    assert any(key.startswith("pairings.0.sketch_x.hashes") for key in state)
    assert not any(key.startswith("teachers.") for key in state)  # frozen teachers are rebuilt from their stages


def test_both_graphs_train_the_student_and_adapters_only() -> None:
    method = build()
    terms = method.training_step(*batch())
    assert set(terms) == {"ce", "logits_graph", "rep_graph"}
    torch.stack(list(terms.values())).sum().backward()
    assert all(p.grad is not None for p in method.student.parameters())
    assert all(p.grad is not None for p in method.adapters.parameters())
    assert all(p.grad is None and not p.requires_grad for p in method.teachers.parameters())
    assert len(method.adapters) == 1 and method.adapters[0].out_features == 64


@pytest.mark.parametrize(
    ("switches", "terms"),
    [
        ({"logits_graph": False}, {"ce", "rep_graph"}),
        ({"representation_graph": False}, {"ce", "logits_graph"}),
        ({"logits_graph": False, "representation_graph": False}, {"ce"}),
    ],
)
def test_each_graph_switches_off(switches: dict[str, bool], terms: set[str]) -> None:
    method = build(**switches)
    assert set(method.training_step(*batch())) == terms
    assert bool(len(method.adapters)) == ("rep_graph" in terms)


def test_concat_pairing_and_cosine_criterion() -> None:
    method = build(pairing="concat", rep_loss="cosine", teacher_weights="pairwise_emd")
    assert method.adapters[0].out_features == 4 * 8 + 6 * 8  # both teachers' features side by side
    assert torch.isfinite(torch.stack(list(method.training_step(*batch()).values()))).all()


def test_representation_graph_needs_two_teachers_and_references_list_them() -> None:
    with pytest.raises(ValueError, match="two teachers"):
        build(teachers=TEACHERS[:1])
    raw = {"name": "g", "kind": "train", "method": "graph_distill", "data": {"name": "video"}}
    cfg = GraphDistillConfig.model_validate(
        raw | {"student": {"from": "s"}, "teachers": [{"from": "a"}, {"arch": "r2plus1d"}, {"from": "b"}]}
    )
    assert cfg.references() == {"student": "s", "teachers.0": "a", "teachers.2": "b"}


def test_partly_labelled_batch_ce_skips_unlabelled_clips_and_graphs_use_all() -> None:
    method = build(data={"name": "video", "labelled_per_class": 2}, logit_match="kl", tau=4.0)
    images, labels = batch()
    partial = labels.clone()
    partial[1:] = UNLABELLED
    terms = method.training_step(images, partial)
    logits = method.student(images)
    assert terms["ce"].item() == pytest.approx(F.cross_entropy(logits[:1], labels[:1]).item(), rel=1e-5)
    full = method.training_step(images, labels)  # the graph terms do not depend on the labels
    assert terms["logits_graph"].item() == pytest.approx(full["logits_graph"].item(), rel=1e-6)
    none = method.training_step(images, torch.full_like(labels, UNLABELLED))
    assert none["ce"].item() == 0.0 and torch.isfinite(none["logits_graph"]).item()
