"""CSLS, mutual nearest neighbours and link precision on a toy alignment with a hub."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.kg.alignment import alignment_precision, csls_scores, mutual_nearest_neighbours


def _circle(degrees: list[float]) -> torch.Tensor:
    return torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in degrees], dtype=torch.float64)


# x_i's counterpart is y[PERM[i]]; y[PERM[1]] sits at 50°, 10° from x1 but also 30° from x2, whose own
# counterpart is 35° away: a hub that plain cosine nearest-neighbour search picks for x2.
X_DEG = [0.0, 40.0, 80.0, 180.0, 240.0, 300.0]
Y_DEG_OF_X = [-5.0, 50.0, 115.0, 182.0, 238.0, 303.0]
PERM = [3, 0, 5, 1, 4, 2]


def _toy() -> tuple[torch.Tensor, torch.Tensor]:
    y_deg = [0.0] * 6
    for i, j in enumerate(PERM):
        y_deg[j] = Y_DEG_OF_X[i]
    return _circle(X_DEG), 3.0 * _circle(y_deg)  # the scale must not matter (cosine)


def test_csls_value_by_hand() -> None:
    x, y = _toy()
    scores = csls_scores(x, y, k=3)
    cos = lambda a, b: math.cos(math.radians(a - b))  # noqa: E731
    # x2 (80°) vs its counterpart (115°): r_T(x2) over y at 50°, 115°, 182°... (its 3 nearest), r_S(y) likewise
    r_t = sum(sorted((cos(80.0, b) for b in Y_DEG_OF_X), reverse=True)[:3]) / 3
    r_s = sum(sorted((cos(115.0, a) for a in X_DEG), reverse=True)[:3]) / 3
    assert scores[2, PERM[2]].item() == pytest.approx(2 * cos(80.0, 115.0) - r_t - r_s, rel=1e-9)


def test_cosine_picks_the_hub_and_csls_fixes_it() -> None:
    x, y = _toy()
    cosine = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    assert cosine.argmax(dim=1)[2].item() == PERM[1]  # plain NN: the hub
    assert csls_scores(x, y).argmax(dim=1).tolist() == PERM


def test_mutual_nearest_neighbours_recover_the_permutation() -> None:
    x, y = _toy()
    pairs = mutual_nearest_neighbours(x, y, k=3, chunk_size=2)
    assert pairs.dtype == torch.int64
    assert pairs.tolist() == [[i, j] for i, j in enumerate(PERM)]


def test_excluded_entities_are_never_proposed() -> None:
    x, y = _toy()
    pairs = mutual_nearest_neighbours(x, y, exclude_a=torch.tensor([0]), exclude_b=torch.tensor([PERM[3]]))
    assert 0 not in pairs[:, 0].tolist()
    assert PERM[3] not in pairs[:, 1].tolist()
    assert [[i, j] for i, j in enumerate(PERM) if i not in (0, 3)] == [p for p in pairs.tolist() if p[0] != 3]


def test_mutual_is_required_both_ways() -> None:
    # two x points both nearest to the single y point: only the closer one is its mutual neighbour
    x = torch.tensor([[1.0, 0.0], [1.0, 0.2]])
    y = torch.tensor([[1.0, 0.05]])
    assert mutual_nearest_neighbours(x, y, k=1).tolist() == [[0, 0]]


def test_alignment_precision() -> None:
    true = torch.tensor([[0, 3], [1, 0], [2, 5]])
    found = torch.tensor([[0, 3], [1, 1], [2, 5], [4, 4]])
    assert alignment_precision(found, true) == pytest.approx(0.5)
    assert math.isnan(alignment_precision(torch.zeros(0, 2, dtype=torch.long), true))


def test_self_learning_round_on_synthetic_views_finds_held_out_links() -> None:
    from ssl_kd.kg.views import make_language_views

    g = torch.Generator().manual_seed(0)
    triples = torch.stack(
        [
            torch.randint(40, (300,), generator=g),
            torch.zeros(300, dtype=torch.long),
            torch.randint(40, (300,), generator=g),
        ],
        dim=1,
    )
    views = make_language_views(triples, 40, 1, num_views=2, share=0.7, seed_fraction=0.5, seed=1)
    source = torch.randn(40, 16, generator=g)
    a, b = views.views
    x = source[a.entity_ids_in_source] + 0.01 * torch.randn(a.num_entities, 16, generator=g)
    y = source[b.entity_ids_in_source] + 0.01 * torch.randn(b.num_entities, 16, generator=g)
    links = views.links[(0, 1)]
    found = mutual_nearest_neighbours(x, y, exclude_a=links.seed[:, 0], exclude_b=links.seed[:, 1])
    assert len(found) >= len(links.held_out) and len(links.held_out) > 0
    held = set(map(tuple, links.held_out.tolist()))
    assert held <= set(map(tuple, found.tolist()))  # every held-out link is recovered
    # the other proposals pair entities that only one view has: wrong by construction
    assert alignment_precision(found, links.held_out) == pytest.approx(len(held) / len(found))
