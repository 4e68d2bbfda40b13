"""The recommendation domain: implicit-feedback interactions, BPR-MF models, full-ranking top-k evaluation.

Datasets (docs/methods/htd.md, 'Data'): ``ml100k`` (MovieLens-100K from RecBole's bundled copy; nothing downloaded),
``movielens_udata`` (a GroupLens ``u.data`` / ``ratings.dat`` file or folder at ``data.root``) and ``recbole_inter``
(a RecBole atomic ``.inter`` file or folder). A training batch is an :class:`InteractionBatch`: training
interactions (user, positive item), one uniform negative item per positive drawn in the loader from the sampler's
seed (resampled while it is one of the user's training items; a resumed run sees the same negatives), and the
batch's distinct users and items (the nodes of topology distillation). Validation (``val_*``, training items
excluded) and test metrics (``test_*``, training and validation items excluded) rank every item for every user.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
from pydantic import Field, model_validator
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ssl_kd.config.schema import DatasetConfig
from ssl_kd.engine.domain import Domain, DomainData, Evaluate, Placement, register_domain, whole_batch_loader
from ssl_kd.engine.method import Batch, TrainableMethod
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.evaluation.topk import UserItems, evaluate_topk
from ssl_kd.recsys.interactions import (
    RawInteractions,
    RecSplits,
    SplitOptions,
    bundled_ml100k,
    inter_file,
    read_inter,
    read_udata,
    split_interactions,
    udata_file,
)
from ssl_kd.recsys.models import BPRMF
from ssl_kd.registry import DATASETS, MODELS, register_dataset

DOMAIN = "recommendation"
TOPK = (10, 20, 50)
NEGATIVE_ROUNDS = 10
"""Resampling rounds for negatives that hit a training positive; the rare survivors (at most density^11) stay."""


class RecDataConfig(DatasetConfig):
    """Which interactions a recommendation stage reads, how they are split, and its batch sizes."""

    domains: ClassVar[tuple[str, ...]] = (DOMAIN,)

    name: str = Field(
        "ml100k", description="ml100k (RecBole's bundled MovieLens-100K), movielens_udata or recbole_inter (data.root)"
    )
    batch_size: int = Field(1024, ge=1, description="training interactions per step")
    eval_batch_size: int = Field(1024, ge=1, description="users ranked against all items at once in evaluation")
    min_rating: float | None = Field(None, description="keep only interactions rated at least this (None: all)")
    valid_fraction: float = Field(0.1, gt=0, lt=0.5, description="per user, share of interactions for validation")
    test_fraction: float = Field(0.1, gt=0, lt=0.5, description="per user, share of interactions for test")
    split_seed: int = Field(0, description="seed of the per-user split (engine.seed does not change it)")
    min_user_interactions: int = Field(
        3, ge=3, description="users with fewer interactions stay wholly in training and are not evaluated"
    )

    @model_validator(mode="after")
    def _some_training_left(self) -> RecDataConfig:
        if self.valid_fraction + self.test_fraction >= 0.9:
            raise ValueError("valid_fraction + test_fraction must stay below 0.9 (most interactions train)")
        return self


@dataclass(frozen=True)
class RecFacts:
    """What a recommendation method may know of its data."""

    num_users: int
    num_items: int
    dataset: str


class InteractionBatch(NamedTuple):
    """A recommendation training batch.

    Attributes:
        users: user ids of the batch's training interactions, (B,) int64.
        positives: their items, (B,).
        negatives: one sampled item per interaction that the user has not interacted with in training, (B,).
        batch_users: the distinct ids in ``users``, sorted, (U_b,).
        batch_items: the distinct ids in ``positives`` and ``negatives``, sorted, (I_b,).
    """

    users: Tensor
    positives: Tensor
    negatives: Tensor
    batch_users: Tensor
    batch_items: Tensor


MODELS.register(BPRMF.arch)(BPRMF)


@register_dataset("ml100k", requires_root=False, domain=DOMAIN)
def build_ml100k(root: Path | None = None) -> RawInteractions:
    """MovieLens-100K (943 users, 1,682 items, 100,000 ratings) from RecBole's bundled atomic file."""
    return read_inter(bundled_ml100k())


@register_dataset("movielens_udata", requires_root=True, domain=DOMAIN)
def build_movielens_udata(root: Path) -> RawInteractions:
    """A GroupLens ``u.data`` (tab) or ``ratings.dat`` (``::``) file, or a folder holding one."""
    return read_udata(udata_file(Path(root)))


@register_dataset("recbole_inter", requires_root=True, domain=DOMAIN)
def build_recbole_inter(root: Path) -> RawInteractions:
    """A RecBole atomic ``.inter`` file, or a folder holding exactly one."""
    return read_inter(inter_file(Path(root)))


class NegativeSampledInteractions(Dataset):
    """Whole training batches: item = the sampler's list of ``(index, seed)``; negatives drawn under its first seed.

    Membership of a candidate (user, item) in the training set is a binary search in the sorted keys
    ``user · num_items + item``, so negatives exclude known positives at any data size without a dense matrix.
    """

    def __init__(self, train: Tensor, num_items: int) -> None:
        self.train = train
        self.num_items = num_items
        self.keys = torch.sort(train[:, 0] * num_items + train[:, 1]).values

    def __len__(self) -> int:
        return len(self.train)

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        keys = users * self.num_items + items
        found = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
        return self.keys[found] == keys

    def __getitem__(self, items: list[tuple[int, int]]) -> Batch:
        ids = torch.as_tensor([index for index, _ in items], dtype=torch.int64)
        generator = torch.Generator().manual_seed(items[0][1])
        users, positives = self.train[ids, 0], self.train[ids, 1]
        negatives = torch.randint(0, self.num_items, (len(ids),), generator=generator)
        for _ in range(NEGATIVE_ROUNDS):
            redraw = self.is_positive(users, negatives)
            negatives = torch.where(
                redraw, torch.randint(0, self.num_items, (len(ids),), generator=generator), negatives
            )
        batch = InteractionBatch(
            users, positives, negatives, torch.unique(users), torch.unique(torch.cat([positives, negatives]))
        )
        return Batch(batch, ids, [])


def rec_splits(data: DomainData) -> RecSplits:
    return data.splits


def split_options(cfg: Any) -> SplitOptions:
    data = cfg.data
    return SplitOptions(
        data.min_rating, data.valid_fraction, data.test_fraction, data.split_seed, data.min_user_interactions
    )


@register_domain
class Recommendation(Domain):
    """Top-k recommendation from implicit feedback: rank every item for every user, seen items excluded."""

    name = DOMAIN
    headline_metrics: ClassVar[dict[str, str]] = {
        "test_recall_at_20": "R@20",
        "test_ndcg_at_20": "N@20",
        "test_recall_at_50": "R@50",
        "test_ndcg_at_50": "N@50",
    }

    def load(self, cfg: Any) -> DomainData:
        raw: RawInteractions = DATASETS.get(cfg.data.name).build(root=cfg.data.root)
        splits = split_interactions(cfg.data.name, raw, split_options(cfg))
        facts = RecFacts(splits.num_users, splits.num_items, cfg.data.name)
        return DomainData(facts=facts, num_train_samples=len(splits.train), splits=splits)

    def train_loader(
        self, data: DomainData, cfg: Any, method_class: type[TrainableMethod], placement: Placement
    ) -> tuple[DataLoader, ResumableBatchSampler]:
        splits = rec_splits(data)
        return whole_batch_loader(NegativeSampledInteractions(splits.train, splits.num_items), cfg, placement)

    def _ranking(
        self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement, split: str
    ) -> Evaluate:
        splits = rec_splits(data)
        train = UserItems.from_pairs(splits.train, splits.num_users)
        valid = UserItems.from_pairs(splits.valid, splits.num_users)
        targets, excluded, prefix = (
            (valid, [train], "val")
            if split == "valid"
            else (
                UserItems.from_pairs(splits.test, splits.num_users),
                [train, valid],
                "test",
            )
        )

        def evaluate() -> dict[str, float]:
            model = method.output_model()
            was_training = model.training
            model.eval()
            result = evaluate_topk(
                model, targets, excluded, splits.num_items, TOPK, cfg.data.eval_batch_size, placement.device
            )
            model.train(was_training)
            return {f"{prefix}_{key}": value for key, value in result.items()}

        return evaluate

    def evaluator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        return self._ranking(data, cfg, method, placement, "test")

    def validator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        return self._ranking(data, cfg, method, placement, "valid")

    def model_metadata(self, data: DomainData, cfg: Any) -> dict[str, Any]:
        splits = rec_splits(data)
        return {"dataset": cfg.data.name, "users": list(splits.users), "items": list(splits.items)}

    def describe(self, data: DomainData) -> str:
        splits = rec_splits(data)
        notes = [
            f"{count} {what}"
            for count, what in (
                (splits.train_only_users, "users with too few interactions kept in training only"),
                (splits.duplicates, "repeated interactions merged"),
                (splits.below_min_rating, "interactions below min_rating left out"),
            )
            if count
        ]
        return (
            f"{splits.num_users} users, {splits.num_items} items, {len(splits.train)} training / "
            f"{len(splits.valid)} validation / {len(splits.test)} test interactions"
            + (f" ({'; '.join(notes)})" if notes else "")
        )
