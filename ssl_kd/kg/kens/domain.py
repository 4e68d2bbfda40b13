"""The ``aligned_link_prediction`` domain: several aligned KGs, a training loader over all of them, per-view evaluation.

Metrics of a training stage (its output model is a :class:`~ssl_kd.kg.kens.model.KEnSModel`): for every view v the
single model's filtered MRR, MR and Hits@1/3/10 over the head and tail queries of the view's test triples
(``view{v}_test_hits_at_10``, filtered with the view's train + valid + test triples), their means over the views
(``mean_test_...``), and the method's extra metrics (``kens``: the alignment precision of every self-learning round).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch.utils.data import DataLoader

from ssl_kd.engine.domain import Domain, DomainData, Evaluate, Placement, register_domain, whole_batch_loader
from ssl_kd.engine.method import TrainableMethod
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.errors import ConfigError
from ssl_kd.evaluation.ranking import evaluate_ranking
from ssl_kd.kg.kens.data import DOMAIN, KEnSDataConfig, KEnSFacts, ViewTriples
from ssl_kd.kg.kens.model import KEnSModel
from ssl_kd.kg.views import LanguageViews
from ssl_kd.registry import DATASETS

KS = (1, 3, 10)


def load_views(data: KEnSDataConfig) -> LanguageViews:
    """The views named by a stage's ``data`` config."""
    return DATASETS.get(data.name).build(root=data.root, data=data)


def view_test_metrics(model: KEnSModel, views: LanguageViews, batch_size: int, device: Any) -> dict[str, float]:
    """Per-view filtered MRR / MR / Hits@k of each view's own model on its test triples, and their means."""
    if model.num_views != len(views.views):
        raise ConfigError(f"the model has {model.num_views} views, the data {len(views.views)}")
    metrics: dict[str, float] = {}
    sums: dict[str, float] = {}
    for i, view in enumerate(views.views):
        result = evaluate_ranking(
            model.view(i), view.test, view.triples, view.num_entities, batch_size=batch_size, device=device
        ).metrics(KS)
        pooled = {key: value for key, value in result.items() if not key.startswith(("head_", "tail_"))}
        metrics |= {f"view{i}_test_{key}": value for key, value in pooled.items()}
        for key, value in pooled.items():
            sums[key] = sums.get(key, 0.0) + value
    return metrics | {f"mean_test_{key}": value / len(views.views) for key, value in sums.items()}


@register_domain
class AlignedLinkPrediction(Domain):
    """KG completion over several KGs whose entities are partly aligned (KEnS, docs/methods/kens.md)."""

    name = DOMAIN
    headline_metrics: ClassVar[dict[str, str]] = {
        "mean_test_mrr": "MRR (mean view)",
        "mean_test_hits_at_10": "H@10 (mean view)",
    }

    def load(self, cfg: Any) -> DomainData:
        views = load_views(cfg.data)
        facts = KEnSFacts(
            names=tuple(v.name for v in views.views),
            num_entities=tuple(v.num_entities for v in views.views),
            num_relations=tuple(v.num_relations for v in views.views),
            dataset=cfg.data.name,
        )
        return DomainData(facts=facts, num_train_samples=sum(len(v.train) for v in views.views), splits=views)

    def train_loader(
        self, data: DomainData, cfg: Any, method_class: type[TrainableMethod], placement: Placement
    ) -> tuple[DataLoader, ResumableBatchSampler]:
        return whole_batch_loader(ViewTriples(data.splits, cfg.data.num_negatives), cfg, placement)

    def evaluator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        def evaluate() -> dict[str, float]:
            metrics = view_test_metrics(method.output_model(), data.splits, cfg.data.eval_batch_size, placement.device)
            extra = getattr(method, "extra_metrics", None)
            return metrics | (extra() if extra is not None else {})

        return evaluate

    def model_metadata(self, data: DomainData, cfg: Any) -> dict[str, Any]:
        views: LanguageViews = data.splits
        return {"dataset": cfg.data.name, "views": [v.name for v in views.views]}

    def describe(self, data: DomainData) -> str:
        views: LanguageViews = data.splits
        parts = [
            f"{v.name}: {v.num_entities} entities, {len(v.train)}/{len(v.valid)}/{len(v.test)}" for v in views.views
        ]
        seeds = sum(len(links.seed) for links in views.links.values())
        held = sum(len(links.held_out) for links in views.links.values())
        return f"{len(views.views)} views ({'; '.join(parts)} train/valid/test), {seeds} seed / {held} held-out links"
