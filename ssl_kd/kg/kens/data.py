"""The aligned-link-prediction data of KEnS: several KGs ("views", "languages") with entity alignment links.

Chen et al., "Multilingual Knowledge Graph Completion via Ensemble Knowledge Transfer", Findings of EMNLP 2020,
arXiv 2010.03158; docs/methods/kens.md. Datasets (domain ``aligned_link_prediction``):

- ``kg_views`` (no root): :func:`ssl_kd.kg.views.make_language_views` over a bundled pykeen KG (``data.source``):
  ``data.num_views`` views, each keeping a random ``data.share`` of the triples under its own entity ids, with
  ``data.seed_fraction`` of every pair's true links given as seed links (the rest held out to measure the
  self-learned links' precision). [reconstruction: a simulated multilingual setting.]
- ``dbp5l`` (``data.root``: the KEnS repository's ``data`` folder): :func:`ssl_kd.kg.dbp5l.read_dbp5l`.

A training sample is one training triple of one view; a batch is a :class:`ViewTripleBatch` (view id per row,
view-local ids, uniform negatives drawn within that view's entities under the sampler's first seed, so that a
resumed run sees the same negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import torch
from pydantic import Field, field_validator, model_validator
from torch import Tensor
from torch.utils.data import Dataset

from ssl_kd.config.schema import DatasetConfig
from ssl_kd.engine.method import Batch
from ssl_kd.kg.dbp5l import read_dbp5l
from ssl_kd.kg.triples import BUNDLED_KGS, load_bundled_kg
from ssl_kd.kg.views import LanguageViews, make_language_views
from ssl_kd.registry import register_dataset

DOMAIN = "aligned_link_prediction"

#: Data options of each dataset; a key set for the other dataset is refused.
DATASET_KEYS = {
    "kg_views": ("source", "num_views", "share", "seed_fraction", "view_seed"),
    "dbp5l": ("languages", "held_out_fraction", "view_seed"),
}


class KEnSDataConfig(DatasetConfig):
    """Which aligned KGs a KEnS stage reads, how the views are made, and the batch sizes."""

    domains: ClassVar[tuple[str, ...]] = (DOMAIN,)

    name: str = Field("kg_views", description="kg_views (views of a bundled KG) or dbp5l (data.root)")
    source: str = Field("kinships", description="kg_views: the bundled KG cut into views (nations, kinships, umls)")
    num_views: int = Field(4, ge=2, le=5, description="kg_views: number of views (languages)")
    share: float = Field(0.6, gt=0, le=1, description="kg_views: fraction of the source triples each view keeps")
    seed_fraction: float = Field(
        0.3, ge=0, le=1, description="kg_views: share of each pair's true links given as seed links (rest held out)"
    )
    view_seed: int = Field(0, description="seed of the views (kg_views) or of the held-out link split (dbp5l)")
    languages: list[str] | None = Field(
        None, description="dbp5l: language codes, the first is view 0 (default: every kg/*-train.tsv, sorted)"
    )
    held_out_fraction: float = Field(
        0.0, ge=0, le=1, description="dbp5l: part of the seed links held out to measure alignment precision"
    )
    batch_size: int = Field(1024, ge=1, description="training triples per step, all views together")
    eval_batch_size: int = Field(256, ge=1, description="test triples ranked at once")
    num_negatives: int = Field(64, ge=1, description="uniform negatives per positive, within its view")

    @field_validator("source")
    @classmethod
    def _bundled(cls, source: str) -> str:
        if source not in BUNDLED_KGS:
            raise ValueError(f"unknown source KG {source!r}; bundled: {', '.join(BUNDLED_KGS)}")
        return source

    @model_validator(mode="after")
    def _keys_of_the_dataset(self) -> KEnSDataConfig:
        own = DATASET_KEYS.get(self.name, ())
        foreign = sorted({key for keys in DATASET_KEYS.values() for key in keys} - set(own))
        given = [key for key in foreign if key in self.model_fields_set]
        if given:
            raise ValueError(
                f"data.{', data.'.join(given)}: not an option of dataset {self.name!r} (its options: {', '.join(own)})"
            )
        return self


@dataclass(frozen=True)
class KEnSFacts:
    """What a KEnS method may know of its views: names, entity and relation counts per view."""

    names: tuple[str, ...]
    num_entities: tuple[int, ...]
    num_relations: tuple[int, ...]
    dataset: str


class ViewTripleBatch(NamedTuple):
    """A KEnS training batch over every view.

    Attributes:
        view: (B,) int64 view of each row.
        triples: (B, 3) positive triples in the ids of their view.
        negatives: (B, K) replacement entities, drawn within the row's view.
        corrupt_head: (B,) bool: row i's negatives replace its head (else its tail).
    """

    view: Tensor
    triples: Tensor
    negatives: Tensor
    corrupt_head: Tensor


@register_dataset("kg_views", requires_root=False, domain=DOMAIN)
def build_kg_views(root: Path | None = None, data: KEnSDataConfig | None = None) -> LanguageViews:
    """Views of a bundled KG (train, valid and test triples of the source pooled, then re-split per view)."""
    data = data or KEnSDataConfig()
    source = load_bundled_kg(data.source)
    triples = torch.cat([source.train, source.valid, source.test])
    return make_language_views(
        triples,
        source.num_entities,
        source.num_relations,
        num_views=data.num_views,
        share=data.share,
        seed_fraction=data.seed_fraction,
        seed=data.view_seed,
    )


@register_dataset("dbp5l", requires_root=True, domain=DOMAIN)
def build_dbp5l(root: Path, data: KEnSDataConfig | None = None) -> LanguageViews:
    """DBP-5L from the KEnS repository's ``data`` folder."""
    data = data or KEnSDataConfig(name="dbp5l", root=root)
    return read_dbp5l(root, data.languages, held_out_fraction=data.held_out_fraction, seed=data.view_seed)


class ViewTriples(Dataset):
    """Whole training batches over the pooled training triples of every view; negatives under the first seed."""

    def __init__(self, views: LanguageViews, num_negatives: int) -> None:
        self.view = torch.cat([torch.full((len(v.train),), i, dtype=torch.long) for i, v in enumerate(views.views)])
        self.triples = torch.cat([v.train for v in views.views])
        self.num_entities = torch.tensor([v.num_entities for v in views.views], dtype=torch.long)
        self.num_negatives = num_negatives

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, items: list[tuple[int, int]]) -> Batch:
        ids = torch.as_tensor([index for index, _ in items], dtype=torch.int64)
        generator = torch.Generator().manual_seed(items[0][1])
        view = self.view[ids]
        uniform = torch.rand(len(ids), self.num_negatives, generator=generator, dtype=torch.float64)
        negatives = (uniform * self.num_entities[view, None]).long()
        corrupt_head = torch.randint(2, (len(ids),), generator=generator).bool()
        return Batch(ViewTripleBatch(view, self.triples[ids], negatives, corrupt_head), ids, [])


def pair_links(views: LanguageViews) -> tuple[Tensor, Tensor]:
    """Seed and held-out links of every pair as (L, 4) int64 rows ``(a, b, id in a, id in b)``, a < b."""
    seed, held = [], []
    for (a, b), links in sorted(views.links.items()):
        for rows, out in ((links.seed, seed), (links.held_out, held)):
            prefix = torch.tensor([a, b], dtype=torch.long).expand(len(rows), 2)
            out.append(torch.cat([prefix, rows.long()], dim=1))
    empty = torch.zeros(0, 4, dtype=torch.long)
    return (torch.cat(seed) if seed else empty), (torch.cat(held) if held else empty)
