"""Graph distillation: compact bilinear pooling, the switches, gradient flow, checkpoint contents, references."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from kd_helpers import classification_facts

from ssl_kd.config.schema import ModelSpec
from ssl_kd.data.base import UNLABELLED
from ssl_kd.methods.base import MethodEnv
from ssl_kd.methods.compact_bilinear import CompactBilinearPooling, CountSketch
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


def test_count_sketch_of_one_hot_vectors_is_a_shifted_sign() -> None:
    pooling = CompactBilinearPooling(3, 5, 16, seed=0)
    sx, sy = pooling.sketch_x, pooling.sketch_y
    x, y = torch.zeros(1, 3), torch.zeros(1, 5)
    x[0, 1], y[0, 4] = 1.0, 1.0
    # TS(e_i, e_j) = s_x[i] s_y[j] e_{(h_x[i] + h_y[j]) mod d}: after signed sqrt and L2 norm, the same one-hot.
    expected = torch.zeros(1, 16)
    expected[0, (sx.hashes[1] + sy.hashes[4]) % 16] = sx.signs[1] * sy.signs[4]
    assert torch.allclose(pooling(x, y), expected, atol=1e-3)  # FFT round-off, magnified by the square root


def test_sketch_approximates_the_bilinear_inner_product() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(2, 32), torch.randn(2, 32)
    estimates = []
    for seed in range(20):
        pooling = CompactBilinearPooling(32, 32, 1024, seed=seed)
        d = 1024
        raw = torch.fft.irfft(torch.fft.rfft(pooling.sketch_x(x), n=d) * torch.fft.rfft(pooling.sketch_y(y), n=d), n=d)
        estimates.append((raw[0] * raw[1]).sum())
    exact = (x[0] @ x[1]) * (y[0] @ y[1])
    assert torch.stack(estimates).mean().item() == pytest.approx(exact.item(), abs=0.25 * abs(exact.item()) + 5)


def test_sketches_are_seeded_buffers() -> None:
    a, b = CountSketch(10, 8, torch.Generator().manual_seed(3)), CountSketch(10, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a.hashes, b.hashes) and set(a.signs.tolist()) <= {-1.0, 1.0}
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
