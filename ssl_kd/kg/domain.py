"""The link-prediction domain: a knowledge graph's triples, KGE models, filtered rank-based evaluation.

Datasets: pykeen's bundled ``nations``, ``kinships`` and ``umls`` (read from the files inside the pykeen wheel; no
download), and ``kg_triples``: a user folder with ``train.txt``, ``valid.txt``, ``test.txt`` of tab-separated
``head relation tail`` (the FB15k-237, WN18RR and DBP-5L layouts). A training batch is a :class:`TripleBatch`:
the positive triples, their corrupted entities (uniform negatives drawn in the loader from the sampler's seed, so
that a resumed run sees the same negatives) and which side each positive's negatives replace. Evaluation ranks every
entity on both sides of each test triple, filtered (docs/methods/kge.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
from pydantic import Field
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ssl_kd.config.schema import DatasetConfig
from ssl_kd.engine.domain import Domain, DomainData, Evaluate, Placement, register_domain, whole_batch_loader
from ssl_kd.engine.method import Batch, TrainableMethod
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.evaluation.ranking import evaluate_ranking
from ssl_kd.kg.models import KGE_MODELS
from ssl_kd.kg.negatives import corrupt
from ssl_kd.kg.triples import BUNDLED_KGS, KGSplits, all_true_triples, load_bundled_kg, load_triples_folder
from ssl_kd.registry import DATASETS, MODELS, register_dataset

DOMAIN = "link_prediction"


class KGDataConfig(DatasetConfig):
    """Which knowledge graph a link-prediction stage reads, and its batch sizes."""

    domains: ClassVar[tuple[str, ...]] = (DOMAIN,)

    name: str = Field("umls", description="nations, kinships, umls (bundled with pykeen) or kg_triples (data.root)")
    batch_size: int = Field(512, ge=1, description="positive triples per training step")
    eval_batch_size: int = Field(256, ge=1, description="test triples ranked at once")
    eval_entity_chunk: int = Field(
        4096, ge=1, description="candidate entities scored at once in evaluation (memory stays flat; ranks unchanged)"
    )


@dataclass(frozen=True)
class KGFacts:
    """What a link-prediction method may know of its graph."""

    num_entities: int
    num_relations: int
    dataset: str


class TripleBatch(NamedTuple):
    """A link-prediction training batch.

    Attributes:
        triples: positive ``(head, relation, tail)`` ids, ``(B, 3)`` int64.
        negatives: replacement entity ids, ``(B, K)`` int64.
        corrupt_head: ``(B,)`` bool: the negatives of row ``i`` replace its head (else its tail).
    """

    triples: Tensor
    negatives: Tensor
    corrupt_head: Tensor


for _arch, _model_class in KGE_MODELS.items():
    MODELS.register(_arch)(_model_class)


def _bundled(name: str):
    def build(root: Path | None) -> KGSplits:
        return load_bundled_kg(name)

    build.__doc__ = f"pykeen's bundled {name} knowledge graph, read from the files inside the installed wheel."
    return build


for _name in BUNDLED_KGS:
    register_dataset(_name, requires_root=False, domain=DOMAIN)(_bundled(_name))


@register_dataset("kg_triples", requires_root=True, domain=DOMAIN)
def build_kg_triples(root: Path) -> KGSplits:
    """A user folder of ``train.txt`` / ``valid.txt`` / ``test.txt`` triples files (``head<TAB>relation<TAB>tail``)."""
    return load_triples_folder(Path(root))


class NegativeSampledTriples(Dataset):
    """Whole training batches: item = the sampler's list of ``(index, seed)``; negatives drawn under its first seed.

    One item is one batch, gathered with tensor indexing (no per-triple Python work).
    """

    def __init__(self, train: Tensor, num_negatives: int, num_entities: int) -> None:
        self.train = train
        self.num_negatives = num_negatives
        self.num_entities = num_entities

    def __len__(self) -> int:
        return len(self.train)

    def __getitem__(self, items: list[tuple[int, int]]) -> Batch:
        ids = torch.as_tensor([index for index, _ in items], dtype=torch.int64)
        generator = torch.Generator().manual_seed(items[0][1])
        triples = self.train[ids]
        negatives, corrupt_head = corrupt(triples, self.num_negatives, self.num_entities, generator)
        return Batch(TripleBatch(triples, negatives, corrupt_head), ids, [])


def kg_splits(data: DomainData) -> KGSplits:
    return data.splits


@register_domain
class LinkPrediction(Domain):
    """Knowledge-graph completion: rank the true entity of ``(h, r, ?)`` and ``(?, r, t)`` among all entities."""

    name = DOMAIN
    headline_metrics: ClassVar[dict[str, str]] = {
        "test_mrr": "MRR",
        "test_hits_at_1": "H@1",
        "test_hits_at_3": "H@3",
        "test_hits_at_10": "H@10",
    }

    def load(self, cfg: Any) -> DomainData:
        entry = DATASETS.get(cfg.data.name)
        splits: KGSplits = entry.build(root=cfg.data.root)
        facts = KGFacts(splits.num_entities, splits.num_relations, cfg.data.name)
        return DomainData(facts=facts, num_train_samples=len(splits.train), splits=splits)

    def train_loader(
        self, data: DomainData, cfg: Any, method_class: type[TrainableMethod], placement: Placement
    ) -> tuple[DataLoader, ResumableBatchSampler]:
        splits = kg_splits(data)
        return whole_batch_loader(
            NegativeSampledTriples(splits.train, cfg.num_negatives, splits.num_entities), cfg, placement
        )

    def evaluator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        splits = kg_splits(data)
        known = all_true_triples(splits)

        def evaluate() -> dict[str, float]:
            metrics = self._ranking(splits, known, splits.test, "test", cfg, method, placement)
            return metrics | {"test_triples": len(splits.test), "test_dropped_unseen": splits.dropped.get("test", 0)}

        return evaluate

    def validator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate | None:
        splits = kg_splits(data)
        if not len(splits.valid):
            return None
        known = all_true_triples(splits)
        return lambda: self._ranking(splits, known, splits.valid, "val", cfg, method, placement)

    @staticmethod
    def _ranking(
        splits: KGSplits,
        known: Tensor,
        triples: Tensor,
        prefix: str,
        cfg: Any,
        method: TrainableMethod,
        placement: Placement,
    ) -> dict[str, float]:
        """Filtered both-sides ranking metrics of ``triples`` under ``method``'s output model, keys ``prefix_*``."""
        result = evaluate_ranking(
            method.output_model(),
            triples,
            known,
            splits.num_entities,
            batch_size=cfg.data.eval_batch_size,
            entity_chunk=cfg.data.eval_entity_chunk,
            device=placement.device,
        )
        return {f"{prefix}_{key}": value for key, value in result.metrics().items()}

    def model_metadata(self, data: DomainData, cfg: Any) -> dict[str, Any]:
        splits = kg_splits(data)
        return {"dataset": cfg.data.name, "entities": list(splits.entities), "relations": list(splits.relations)}

    def describe(self, data: DomainData) -> str:
        splits = kg_splits(data)
        dropped = ", ".join(f"{n} {split}" for split, n in splits.dropped.items() if n)
        return (
            f"{splits.num_entities} entities, {splits.num_relations} relations, {len(splits.train)} training / "
            f"{len(splits.valid)} validation / {len(splits.test)} test triples"
            + (f" (left out as unseen in training: {dropped})" if dropped else "")
        )
