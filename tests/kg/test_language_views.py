"""Synthetic KEnS language views: deterministic, consistent id maps, correct true alignment."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.kg.views import KGView, make_language_views


def _source(n: int = 400, num_entities: int = 60, num_relations: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    h = torch.randint(num_entities, (n,), generator=g)
    r = torch.randint(num_relations, (n,), generator=g)
    t = torch.randint(num_entities, (n,), generator=g)
    return torch.unique(torch.stack([h, r, t], dim=1), dim=0)


def _to_source(view: KGView, triples: torch.Tensor) -> torch.Tensor:
    ent, rel = view.entity_ids_in_source, view.relation_ids_in_source
    return torch.stack([ent[triples[:, 0]], rel[triples[:, 1]], ent[triples[:, 2]]], dim=1)


def _views(**kwargs):
    args = {"num_views": 3, "share": [0.6, 0.5, 0.4], "seed_fraction": 0.3, "seed": 7} | kwargs
    return make_language_views(_source(), 60, 5, **args)


def test_deterministic_in_seed() -> None:
    a, b, c = _views(), _views(), _views(seed=8)
    for va, vb in zip(a.views, b.views, strict=True):
        assert torch.equal(va.train, vb.train) and torch.equal(va.entity_ids_in_source, vb.entity_ids_in_source)
    assert torch.equal(a.links[(0, 2)].seed, b.links[(0, 2)].seed)
    assert not torch.equal(a.views[0].entity_ids_in_source, c.views[0].entity_ids_in_source)


@pytest.mark.parametrize("permute_relations", [False, True])
def test_view_triples_map_back_to_source_triples(permute_relations: bool) -> None:
    source = _source()
    views = _views(permute_relations=permute_relations)
    source_keys = set(map(tuple, source.tolist()))
    for view in views.views:
        mapped = _to_source(view, view.triples)
        assert set(map(tuple, mapped.tolist())) <= source_keys
        assert len(view.triples) == len(set(map(tuple, view.triples.tolist())))  # no duplicates
    shares = [len(v.triples) for v in views.views]
    assert shares == [round(s * len(source)) for s in (0.6, 0.5, 0.4)]
    relabelled = views.views[1].relation_ids_in_source
    assert torch.equal(relabelled, torch.arange(5)) != permute_relations


def test_entity_ids_are_compact_and_a_permutation() -> None:
    for view in _views().views:
        ids = view.triples[:, [0, 2]].unique()
        assert torch.equal(ids, torch.arange(view.num_entities))
        assert len(view.entity_ids_in_source.unique()) == view.num_entities
    first = _views().views[0]
    assert not torch.equal(first.entity_ids_in_source, first.entity_ids_in_source.sort().values)  # shuffled


def test_splits_partition_each_view() -> None:
    view = _views().views[0]
    n = len(view.triples)
    assert (len(view.train), len(view.valid)) == (round(0.8 * n), round(0.1 * n))
    assert len(view.train) + len(view.valid) + len(view.test) == n


def test_alignment_links_are_the_shared_entities() -> None:
    views = _views()
    for (a, b), links in views.links.items():
        va, vb = views.views[a], views.views[b]
        every = links.all
        assert torch.equal(va.entity_ids_in_source[every[:, 0]], vb.entity_ids_in_source[every[:, 1]])
        shared = set(va.entity_ids_in_source.tolist()) & set(vb.entity_ids_in_source.tolist())
        assert len(every) == len(shared) and len(set(every[:, 0].tolist())) == len(shared)
        assert len(links.seed) == round(0.3 * len(shared))
        assert not set(map(tuple, links.seed.tolist())) & set(map(tuple, links.held_out.tolist()))
    assert torch.equal(views.pair(2, 0).seed, views.links[(0, 2)].seed.flip(1))
    assert views.index("view1") == 1


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="one value per view"):
        _views(share=[0.5, 0.5])
    with pytest.raises(ValueError, match="entity ids"):
        make_language_views(torch.tensor([[0, 0, 99]]), 10, 1, 2, 0.5, 0.5, 0)
