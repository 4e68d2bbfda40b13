"""Language views for KEnS: several KGs over partly shared entities, each under its own ids, with true alignment.

Chen et al., "Multilingual Knowledge Graph Completion via Ensemble Knowledge Transfer", Findings of EMNLP 2020,
arXiv 2010.03158; docs/methods/kens.md. :func:`make_language_views` simulates the multilingual setting from one
KG (each "language" sees a different random part of it); ``ssl_kd.kg.dbp5l`` reads the real DBP-5L data into
the same :class:`LanguageViews`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class KGView:
    """One language-specific KG under its own compact entity ids.

    Attributes:
        name: the view's name (``"view0"``, or a language code for DBP-5L).
        num_entities, num_relations: id ranges of the view.
        train, valid, test: (n, 3) int64 triples (head, relation, tail) in view ids.
        entity_ids_in_source: (num_entities,) int64, view entity id -> id in the source KG (synthetic views),
            or None when there is no common source (DBP-5L).
        entity_names: the entities' names by view id, when known (DBP-5L), else None.
        relation_ids_in_source: (num_relations,) int64, view relation id -> source relation id (synthetic
            views; the identity unless relations were permuted), or None (DBP-5L).
    """

    name: str
    num_entities: int
    num_relations: int
    train: Tensor
    valid: Tensor
    test: Tensor
    entity_ids_in_source: Tensor | None = None
    entity_names: tuple[str, ...] | None = field(default=None, repr=False)
    relation_ids_in_source: Tensor | None = None

    @property
    def triples(self) -> Tensor:
        """All (train, valid, test) triples, (n, 3)."""
        return torch.cat([self.train, self.valid, self.test])


@dataclass(frozen=True)
class AlignmentLinks:
    """True alignment between two views: (id in view a, id in view b) pairs.

    Attributes:
        seed: (S, 2) links given to training.
        held_out: (H, 2) links kept to measure alignment precision (empty for DBP-5L's seed files).
    """

    seed: Tensor
    held_out: Tensor

    @property
    def all(self) -> Tensor:
        """Seed and held-out links, (S + H, 2)."""
        return torch.cat([self.seed, self.held_out])

    def swapped(self) -> AlignmentLinks:
        """The same links as (id in view b, id in view a)."""
        return AlignmentLinks(self.seed.flip(1), self.held_out.flip(1))


@dataclass(frozen=True)
class LanguageViews:
    """Views plus the true alignment of every pair of them.

    Attributes:
        views: the views, view 0 first.
        links: ``{(a, b): AlignmentLinks}`` for view indices a < b, columns (id in a, id in b).
    """

    views: tuple[KGView, ...]
    links: dict[tuple[int, int], AlignmentLinks]

    def index(self, name: str) -> int:
        """Position of the view called ``name``."""
        for i, view in enumerate(self.views):
            if view.name == name:
                return i
        raise KeyError(f"no view named {name!r}; views: {[v.name for v in self.views]}")

    def pair(self, a: int, b: int) -> AlignmentLinks:
        """Links between views a and b as (id in a, id in b), for either order; empty if none are known."""
        if a == b:
            raise ValueError("a view is not aligned with itself")
        if (a, b) in self.links:
            return self.links[(a, b)]
        if (b, a) in self.links:
            return self.links[(b, a)].swapped()
        empty = torch.zeros(0, 2, dtype=torch.long)
        return AlignmentLinks(empty, empty)


def _shares(share: float | Sequence[float], num_views: int) -> list[float]:
    shares = [float(share)] * num_views if isinstance(share, (int, float)) else [float(s) for s in share]
    if len(shares) != num_views:
        raise ValueError(f"share needs one value per view ({num_views}), got {len(shares)}")
    if not all(0.0 < s <= 1.0 for s in shares):
        raise ValueError(f"every share must lie in (0, 1], got {shares}")
    return shares


def _split(triples: Tensor, fractions: tuple[float, float, float], generator: torch.Generator) -> list[Tensor]:
    order = torch.randperm(len(triples), generator=generator)
    n_train = round(fractions[0] * len(triples))
    n_valid = round(fractions[1] * len(triples))
    cuts = [order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]]
    return [triples[c] for c in cuts]


def make_language_views(
    triples: Tensor | np.ndarray,
    num_entities: int,
    num_relations: int,
    num_views: int,
    share: float | Sequence[float],
    seed_fraction: float,
    seed: int,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    permute_relations: bool = False,
) -> LanguageViews:
    """Simulated language-specific KGs from one KG (the KEnS setting without multilingual data).

    [reconstruction: the paper uses DBP-5L; this synthetic protocol is ours.] For each view v, with one
    ``torch.Generator`` seeded by ``seed`` (so the result is a function of the arguments):

    1. keep a random ``share[v]`` of the triples, independently per view — a triple may be in several views or
       in none;
    2. relabel the entities present in the kept triples with a random permutation of 0..n_v−1 (compact ids);
    3. relations keep their source ids (shared, as DBP-5L's one ``relations.txt``), or with
       ``permute_relations`` get a random permutation of 0..num_relations−1 per view (view 0 included);
    4. split the view's triples into train/valid/test by ``split`` (entities only in valid/test are allowed).

    For every pair a < b the shared source entities give the true links (id in a, id in b), shuffled and cut
    into ``seed`` (the first round(seed_fraction·L)) and ``held_out``, each sorted by the view-a id.

    Args:
        triples: (n, 3) source triples (head, relation, tail).
        num_entities, num_relations: source id ranges.
        num_views: number of views (>= 2).
        share: fraction of the triples each view keeps, one value or one per view, each in (0, 1].
        seed_fraction: fraction of each pair's true links given as seed links, in [0, 1].
        seed: random seed.
        split: train/valid/test fractions of each view's triples (summing to 1).
        permute_relations: give each view its own relation ids.
    """
    source = torch.as_tensor(np.asarray(triples), dtype=torch.long)
    if source.dim() != 2 or source.shape[1] != 3:
        raise ValueError(f"triples must be (n, 3), got {tuple(source.shape)}")
    if num_views < 2:
        raise ValueError(f"num_views must be >= 2, got {num_views}")
    if not 0.0 <= seed_fraction <= 1.0:
        raise ValueError(f"seed_fraction must lie in [0, 1], got {seed_fraction}")
    if abs(sum(split) - 1.0) > 1e-6 or min(split) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {split}")
    entities, relations = source[:, [0, 2]], source[:, 1]
    if source.numel() and (entities.min() < 0 or entities.max() >= num_entities):
        raise ValueError(f"entity ids must lie in [0, {num_entities})")
    if source.numel() and (relations.min() < 0 or relations.max() >= num_relations):
        raise ValueError(f"relation ids must lie in [0, {num_relations})")

    generator = torch.Generator().manual_seed(seed)
    views: list[KGView] = []
    source_to_view: list[Tensor] = []
    for v, fraction in enumerate(_shares(share, num_views)):
        kept = source[torch.randperm(len(source), generator=generator)[: round(fraction * len(source))]]
        present = torch.unique(kept[:, [0, 2]])
        view_to_source = present[torch.randperm(len(present), generator=generator)]
        to_view = torch.full((num_entities,), -1, dtype=torch.long)
        to_view[view_to_source] = torch.arange(len(view_to_source))
        relabelled = torch.stack([to_view[kept[:, 0]], kept[:, 1], to_view[kept[:, 2]]], dim=1)
        relation_to_view = torch.arange(num_relations)
        if permute_relations:
            relation_to_view = torch.randperm(num_relations, generator=generator)
            relabelled[:, 1] = relation_to_view[relabelled[:, 1]]
        train, valid, test = _split(relabelled, split, generator)
        views.append(
            KGView(
                f"view{v}",
                len(view_to_source),
                num_relations,
                train,
                valid,
                test,
                entity_ids_in_source=view_to_source,
                relation_ids_in_source=torch.argsort(relation_to_view),
            )
        )
        source_to_view.append(to_view)

    links: dict[tuple[int, int], AlignmentLinks] = {}
    for a in range(num_views):
        for b in range(a + 1, num_views):
            shared = torch.nonzero((source_to_view[a] >= 0) & (source_to_view[b] >= 0)).squeeze(1)
            pairs = torch.stack([source_to_view[a][shared], source_to_view[b][shared]], dim=1)
            pairs = pairs[torch.randperm(len(pairs), generator=generator)]
            n_seed = round(seed_fraction * len(pairs))
            links[(a, b)] = AlignmentLinks(_sorted(pairs[:n_seed]), _sorted(pairs[n_seed:]))
    return LanguageViews(tuple(views), links)


def _sorted(pairs: Tensor) -> Tensor:
    return pairs[torch.argsort(pairs[:, 0])] if len(pairs) else pairs.reshape(0, 2)
