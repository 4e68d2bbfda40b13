"""The domain interface: what a kind of data (images, videos, knowledge graphs, ...) supplies to the engine.

Every registered dataset belongs to one domain (``register_dataset(..., domain=...)``). The ``train`` stage asks the
dataset's domain to load the data, to build the training loader for a method, to evaluate the method's output
model and to describe that model's file; the scheduler shows each domain's headline metrics. Nothing outside a
domain's package knows what its batches hold. A new domain is one package that defines a :class:`Domain`
subclass, registers it with :func:`register_domain`, and registers its datasets, models, methods and evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.utils.data import DataLoader, Dataset

from ssl_kd.engine.method import TrainableMethod
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.registry import DOMAINS

Evaluate = Callable[[], dict[str, float]]


@dataclass
class DomainData:
    """A stage's loaded data, as a domain hands it around.

    Attributes:
        facts: what methods may know of the data (class count, entity count, ...): a domain-specific dataclass.
        num_train_samples: training samples (the sample ids run from 0 to this).
        splits: the domain's own split object (image splits, a KG's triples, ...).
    """

    facts: Any
    num_train_samples: int
    splits: Any


@dataclass(frozen=True)
class Placement:
    """Where a stage runs: its device, mixed-precision dtype and torchrun rank / world size."""

    device: torch.device
    dtype: torch.dtype | None
    rank: int = 0
    world_size: int = 1

    @property
    def pin_memory(self) -> bool:
        return self.device.type == "cuda"


class Domain:
    """Base class of domains. Subclasses set ``name`` and ``headline_metrics`` and implement the four hooks."""

    name: ClassVar[str]
    headline_metrics: ClassVar[dict[str, str]] = {}
    """Metric key -> column title, for the results table and the HTML report (in this order)."""

    def load(self, cfg: Any) -> DomainData:
        """Load the data named by ``cfg.data`` (a training stage's config)."""
        raise NotImplementedError

    def train_loader(
        self, data: DomainData, cfg: Any, method_class: type[TrainableMethod], placement: Placement
    ) -> tuple[DataLoader, ResumableBatchSampler]:
        """A resumable loader of :class:`~ssl_kd.engine.method.Batch` es for ``method_class`` and its sampler."""
        raise NotImplementedError

    def evaluator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        """A callback returning the test metrics of ``method.output_model()`` (``{}`` where none apply)."""
        raise NotImplementedError

    def validator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate | None:
        """A callback returning ``val_*`` metrics of ``method`` on the validation split, for ``early_stopping``.

        ``None`` (the default) where the domain has no validation split; a stage that asks for early stopping on such
        a domain is refused.
        """
        return None

    def model_metadata(self, data: DomainData, cfg: Any) -> dict[str, Any]:
        """What a stage's ``model.pt`` records beside the weights (dataset, preprocessing, id maps, ...)."""
        return {"dataset": cfg.data.name}

    def describe(self, data: DomainData) -> str:
        """One log line about the loaded data."""
        return f"{data.num_train_samples} training samples"


def whole_batch_loader(dataset: Dataset, cfg: Any, placement: Placement) -> tuple[DataLoader, ResumableBatchSampler]:
    """A resumable loader whose ``dataset`` builds whole batches from the sampler's ``(index, seed)`` lists.

    ``dataset[items]`` gets one batch's list of ``(sample index, seed)`` and returns a :class:`Batch`: batches are
    gathered with tensor indexing (no per-sample Python work), and whatever the dataset draws (negatives) comes from
    the seed, so a resumed run sees the same batches.
    """
    sampler = ResumableBatchSampler(
        len(dataset), cfg.data.batch_size, cfg.engine.seed, placement.rank, placement.world_size
    )
    loader = DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        num_workers=cfg.data.num_workers,
        pin_memory=placement.pin_memory,
        persistent_workers=cfg.data.num_workers > 0,
    )
    return loader, sampler


def register_domain(cls: type[Domain]) -> type[Domain]:
    """Class decorator: register an instance of ``cls`` under ``cls.name``."""
    DOMAINS.register(cls.name)(cls())
    return cls


def headline_metrics() -> dict[str, str]:
    """Every registered domain's headline metrics, in registration-key order, without repeats."""
    merged: dict[str, str] = {}
    for _, domain in DOMAINS.items():
        merged |= domain.headline_metrics
    return merged
