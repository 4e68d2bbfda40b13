"""KGE models: hand-computed scores, all-candidate scoring, negatives, and equality with pykeen's models."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.errors import ConfigError
from ssl_kd.kg import KGE_MODELS, ComplEx, KGEModel, RotatE, TransE, build_kge, corrupt, corrupted_triples

ZERO = torch.tensor([0])
ONE = torch.tensor([1])


def set_rotate_phases(model: RotatE, phases: torch.Tensor) -> None:
    model.relation.weight.data.copy_(phases * model.embedding_range / math.pi)


def test_transe_hand_values_and_gradient() -> None:
    model = TransE(2, 1, 2, gamma=3.0, p=1)
    model.entity.weight.data.copy_(torch.tensor([[1.0, 2.0], [0.0, 0.0]]))
    model.relation.weight.data.copy_(torch.tensor([[0.5, -3.0]]))
    score = model.score_hrt(ZERO, ZERO, ONE)  # h + r - t = (1.5, -1)
    assert score.item() == pytest.approx(3.0 - 2.5)
    score.sum().backward()
    assert model.entity.weight.grad.tolist() == [[-1.0, 1.0], [1.0, -1.0]]  # -sign(h + r - t), +sign for t
    model_l2 = TransE(2, 1, 2, gamma=3.0, p=2)
    model_l2.load_state_dict(model.state_dict())
    assert model_l2.score_hrt(ZERO, ZERO, ONE).item() == pytest.approx(3.0 - math.sqrt(3.25))


@pytest.mark.parametrize(("p", "distance"), [(1, 1.0 + math.sqrt(2.0)), (2, math.sqrt(3.0))])
def test_rotate_hand_values(p: int, distance: float) -> None:
    model = RotatE(2, 1, 2, gamma=5.0, p=p)
    # h = (1 + 0i, 2 + 1i); r = (i, -1); h * r = (i, -2 - i); t = (0 + 0i, -1 - 2i); h * r - t = (i, -1 + i)
    model.entity.weight.data.copy_(torch.tensor([[1.0, 2.0, 0.0, 1.0], [0.0, -1.0, 0.0, -2.0]]))
    set_rotate_phases(model, torch.tensor([[math.pi / 2, math.pi]]))
    assert model.score_hrt(ZERO, ZERO, ONE).item() == pytest.approx(5.0 - distance, abs=1e-6)


def test_complex_hand_value() -> None:
    model = ComplEx(2, 1, 1)
    model.entity.weight.data.copy_(torch.tensor([[1.0, 2.0], [5.0, 6.0]]))  # h = 1 + 2i, t = 5 + 6i
    model.relation.weight.data.copy_(torch.tensor([[3.0, 4.0]]))  # r = 3 + 4i
    assert model.score_hrt(ZERO, ZERO, ONE).item() == pytest.approx(35.0)  # Re((-5 + 10i)(5 - 6i)) = 35
    assert model.score_hrt(ONE, ZERO, ZERO).item() == pytest.approx(67.0)  # Re((-9 + 38i)(1 - 2i)) = 67


def test_rotate_p1_matches_complex_arithmetic() -> None:
    torch.manual_seed(0)
    model = RotatE(6, 3, 4, gamma=2.0)
    triples = torch.tensor([[0, 1, 2], [3, 0, 5], [4, 2, 4]])
    h, t = (torch.complex(*model.entity.weight[i].chunk(2, dim=-1)) for i in (triples[:, 0], triples[:, 2]))
    r = torch.polar(torch.ones(3, 4), model.phases(model.relation.weight[triples[:, 1]]))
    expected = 2.0 - (h * r - t).abs().sum(dim=-1)
    torch.testing.assert_close(model(triples), expected)


def models(num_entities: int = 9, num_relations: int = 4, dim: int = 6) -> list[KGEModel]:
    torch.manual_seed(1)
    return [
        TransE(num_entities, num_relations, dim, gamma=4.0, p=1),
        TransE(num_entities, num_relations, dim, gamma=4.0, p=2),
        RotatE(num_entities, num_relations, dim, gamma=4.0, p=1),
        RotatE(num_entities, num_relations, dim, gamma=4.0, p=2),
        ComplEx(num_entities, num_relations, dim),
    ]


@pytest.mark.parametrize("model", models(), ids=lambda m: f"{m.arch}-{m.options()}")
def test_all_candidate_scores_match_score_hrt(model: KGEModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(model), "broadcast_budget", 25)  # force internal chunks of the (B, C, D) broadcast
    h, r, t = torch.tensor([0, 3, 8]), torch.tensor([1, 0, 3]), torch.tensor([2, 2, 7])
    entities = torch.arange(9)
    tails = model.score_tails(h, r)
    heads = model.score_heads(r, t)
    assert tails.shape == heads.shape == (3, 9)
    expected_tails = model.score_hrt(h.repeat_interleave(9), r.repeat_interleave(9), entities.repeat(3)).view(3, 9)
    expected_heads = model.score_hrt(entities.repeat(3), r.repeat_interleave(9), t.repeat_interleave(9)).view(3, 9)
    torch.testing.assert_close(tails, expected_tails)
    torch.testing.assert_close(heads, expected_heads)
    torch.testing.assert_close(model.score_tails(h, r, 2, 7), tails[:, 2:7])
    torch.testing.assert_close(model.score_heads(r, t, 5, 9), heads[:, 5:])
    assert model.score_tails(h, r, 4, 4).shape == (3, 0)
    with pytest.raises(ValueError, match="outside"):
        model.score_tails(h, r, 0, 10)


@pytest.mark.parametrize("model", models(), ids=lambda m: f"{m.arch}-{m.options()}")
def test_score_negatives_match_explicit_corrupted_triples(model: KGEModel) -> None:
    triples = torch.tensor([[0, 1, 2], [3, 0, 5], [4, 2, 4], [8, 3, 1]])
    negatives, corrupt_head = corrupt(triples, 5, 9, torch.Generator().manual_seed(3))
    assert corrupt_head.any() and not corrupt_head.all()
    scores = model.score_negatives(triples, negatives, corrupt_head)
    expected = model(corrupted_triples(triples, negatives, corrupt_head).view(-1, 3)).view(4, 5)
    torch.testing.assert_close(scores, expected)


@pytest.mark.parametrize("model", models(), ids=lambda m: f"{m.arch}-{m.options()}")
def test_spec_rebuilds_the_model(model: KGEModel) -> None:
    spec = model.spec()
    assert spec["arch"] == model.arch
    rebuilt = build_kge(spec["arch"], **spec["options"])
    assert type(rebuilt) is type(model) and rebuilt.spec() == spec
    rebuilt.load_state_dict(model.state_dict())
    triples = torch.tensor([[0, 1, 2], [3, 0, 5]])
    torch.testing.assert_close(rebuilt(triples), model(triples))


def test_widths_initialisation_and_entity_vectors() -> None:
    rotate = RotatE(10, 3, 8, gamma=6.0)
    assert rotate.entity.weight.shape == (10, 16) and rotate.relation.weight.shape == (3, 8)
    assert rotate.embedding_parameters == 10 * 16 + 3 * 8
    bound = (6.0 + 2.0) / 8
    assert rotate.embedding_range == bound
    assert rotate.entity.weight.abs().max() <= bound and rotate.relation.weight.abs().max() <= bound
    assert rotate.entity.weight.abs().max() > 0.5 * bound
    ids = torch.tensor([4, 1])
    assert torch.equal(rotate.entity_vectors(ids), rotate.entity.weight[ids])
    complex_model = ComplEx(10, 3, 8)
    assert complex_model.relation.weight.shape == (3, 16) and complex_model.embedding_parameters == 13 * 16
    transe = TransE(10, 3, 8)
    assert transe.entity.weight.shape == (10, 8) and transe.embedding_parameters == 13 * 8


def test_build_kge_errors() -> None:
    assert set(KGE_MODELS) == {"transe", "rotate", "complex"}
    with pytest.raises(ConfigError, match=r"unknown KGE arch 'rotat'.*did you mean 'rotate'"):
        build_kge("rotat", num_entities=3, num_relations=1, dim=2)
    with pytest.raises(ConfigError, match="p must be 1 or 2"):
        build_kge("transe", num_entities=3, num_relations=1, dim=2, p=3)
    with pytest.raises(ConfigError, match="dim must be at least 1"):
        build_kge("complex", num_entities=3, num_relations=1, dim=0)


# --- equality with pykeen ------------------------------------------------------------------------------------------


def interleave(weight: torch.Tensor) -> torch.Tensor:
    """Our [Re, Im] halves -> pykeen's complex storage (..., d, 2) flattened."""
    re, im = weight.chunk(2, dim=-1)
    return torch.stack([re, im], dim=-1).reshape(len(weight), -1)


@pytest.fixture(scope="module")
def pykeen_setup():
    models_module = pytest.importorskip("pykeen.models")
    triples_module = pytest.importorskip("pykeen.triples")
    torch.manual_seed(0)
    triples = torch.stack([torch.randint(7, (30,)), torch.randint(3, (30,)), torch.randint(7, (30,))], dim=1)
    factory = triples_module.CoreTriplesFactory.create(triples, num_entities=7, num_relations=3)
    return models_module, factory, triples


@pytest.mark.parametrize("p", [1, 2])
def test_transe_equals_pykeen(pykeen_setup, p: int) -> None:
    pm, factory, triples = pykeen_setup
    ours = TransE(7, 3, 5, gamma=3.0, p=p)
    theirs = pm.TransE(triples_factory=factory, embedding_dim=5, scoring_fct_norm=p, random_seed=0)
    theirs.entity_representations[0]._embeddings.weight.data.copy_(ours.entity.weight.data)
    theirs.relation_representations[0]._embeddings.weight.data.copy_(ours.relation.weight.data)
    torch.testing.assert_close(ours(triples), 3.0 + theirs.score_hrt(triples).squeeze(1))


def test_rotate_equals_pykeen(pykeen_setup) -> None:
    """pykeen's RotatE scores -||h * r - t||_2 over the complex vector (RotatEInteraction hard-codes p=2)."""
    pm, factory, triples = pykeen_setup
    ours = RotatE(7, 3, 5, gamma=4.0, p=2)
    theirs = pm.RotatE(triples_factory=factory, embedding_dim=5, random_seed=0)
    theirs.entity_representations[0]._embeddings.weight.data.copy_(interleave(ours.entity.weight.data))
    theta = ours.phases(ours.relation.weight.data)
    theirs.relation_representations[0]._embeddings.weight.data.copy_(
        torch.stack([theta.cos(), theta.sin()], dim=-1).reshape(3, 10)
    )
    torch.testing.assert_close(ours(triples), 4.0 + theirs.score_hrt(triples).squeeze(1))


def test_complex_equals_pykeen(pykeen_setup) -> None:
    pm, factory, triples = pykeen_setup
    ours = ComplEx(7, 3, 5)
    theirs = pm.ComplEx(triples_factory=factory, embedding_dim=5, random_seed=0)
    theirs.entity_representations[0]._embeddings.weight.data.copy_(interleave(ours.entity.weight.data))
    theirs.relation_representations[0]._embeddings.weight.data.copy_(interleave(ours.relation.weight.data))
    torch.testing.assert_close(ours(triples), theirs.score_hrt(triples).squeeze(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("p", [1, 2])
def test_rotate_gradient_of_a_zero_distance_is_finite(p: int) -> None:
    model = RotatE(3, 1, 2, gamma=1.0, p=p)
    set_rotate_phases(model, torch.zeros(1, 2))  # r = 1, so (h, r, h) has distance 0
    score = model.score_hrt(ONE, ZERO, ONE)
    assert score.item() == pytest.approx(1.0)
    score.backward()
    assert torch.isfinite(model.entity.weight.grad).all() and torch.isfinite(model.relation.weight.grad).all()
    with torch.no_grad():  # the autograd-free kernel gives the same distances
        grad_free = model.score_tails(torch.tensor([0, 2]), torch.tensor([0, 0]))
    torch.testing.assert_close(grad_free, model.score_tails(torch.tensor([0, 2]), torch.tensor([0, 0])).detach())


@pytest.mark.parametrize("model", models(), ids=lambda m: f"{m.arch}-{m.options()}")
def test_all_candidate_gradients_match_score_hrt(model: KGEModel) -> None:
    h, r = torch.tensor([0, 3]), torch.tensor([1, 2])
    weights = torch.linspace(-1.0, 1.0, 18).view(2, 9)
    (weights * model.score_tails(h, r)).sum().backward()
    (weights * model.score_heads(r, h)).sum().backward()
    fast = [p.grad.clone() for p in (model.entity.weight, model.relation.weight)]
    model.zero_grad()
    entities = torch.arange(9).repeat(2)
    tails = model.score_hrt(h.repeat_interleave(9), r.repeat_interleave(9), entities).view(2, 9)
    heads = model.score_hrt(entities, r.repeat_interleave(9), h.repeat_interleave(9)).view(2, 9)
    ((weights * tails).sum() + (weights * heads).sum()).backward()
    torch.testing.assert_close(fast[0], model.entity.weight.grad)
    torch.testing.assert_close(fast[1], model.relation.weight.grad)


@pytest.mark.parametrize("arch", sorted(KGE_MODELS))
def test_registered_kge_model_round_trips_through_its_saved_spec(arch: str) -> None:
    import ssl_kd.kg.domain  # noqa: F401  (registers the KGE models in MODELS)
    from ssl_kd.models.base import build_from_spec
    from ssl_kd.registry import MODELS

    assert MODELS.get(arch) is KGE_MODELS[arch]
    model = build_kge(arch, num_entities=7, num_relations=3, dim=4)
    rebuilt = build_from_spec(model.spec())
    rebuilt.load_state_dict(model.state_dict())
    triples = torch.tensor([[0, 1, 2], [3, 2, 6]])
    assert torch.equal(rebuilt(triples), model(triples)) and rebuilt.spec() == model.spec()
