"""The ``kens_ensemble`` stage kind: KEnS ensemble inference over a ``kens`` stage's view models.

Chen et al., "Multilingual Knowledge Graph Completion via Ensemble Knowledge Transfer", Findings of EMNLP 2020,
arXiv 2010.03158; docs/methods/kens.md; the calls are those of ``ssl_kd.kg.ensemble``. For every target view t
and every tail query (h, r, ?) of its validation and test triples, each of the M view models lists its ``top_k``
tails in t's ids: t's own model directly, a supporter s through the link set the embedding stage ended with
(h mapped into s, s's top tails mapped back into t; s nominates nothing when h has no counterpart, and only
entities with a counterpart). Known true tails other than the query's answer (t's train + valid + test) are
removed from every list before the top-k [ours: filtered lists, so that k slots hold k candidates]. Weights are
learned on validation (``majority``: all 1; ``weighted``: the reference's 1 for t, ``supporter_weight`` for the
others; ``mrr``: each model's validation MRR@k; ``boosting``: entity-specific AdaBoost-like weights) and the votes
Σ_i w_i 1[e ∈ top_i] rank the test tails (filtered, realistic ranks for ties, so an entity no model lists ranks
behind every listed one), plus ``tie_break`` · Σ_i w_i (k − position)/k [ours: without it every entity listed by
the same models ties, and Hits@1 of a pure vote is about 1/k of its Hits@k; ``tie_break: 0`` is the reference].
The single model is t's own model over all entities (its exact filtered tail ranks).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.config.schema import EngineConfig, ModelSpec, StageConfig
from ssl_kd.engine import resolve_device, seed_everything
from ssl_kd.errors import ConfigError
from ssl_kd.kg.ensemble import (
    alignment_map,
    ensemble_scores,
    filtered_hits,
    learn_weights,
    map_ids,
    query_weights,
    tail_filter_mask,
    topk_entities,
)
from ssl_kd.kg.kens.data import KEnSDataConfig
from ssl_kd.kg.kens.domain import load_views
from ssl_kd.kg.kens.model import KEnSModel
from ssl_kd.kg.views import KGView, LanguageViews
from ssl_kd.stages.base import Stage, register_stage

Ensemble = Literal["majority", "mrr", "weighted", "boosting"]
ENSEMBLES: tuple[str, ...] = ("majority", "mrr", "weighted", "boosting")
KS = (1, 3, 10)


class KEnSEnsembleConfig(StageConfig):
    """``kind: kens_ensemble``: ensemble the view models of a ``kens`` stage, weights learned on validation."""

    kind: Literal["kens_ensemble"] = "kens_ensemble"
    model: ModelSpec = Field(description="the kens stage's model: {from: STAGE}")
    data: KEnSDataConfig = Field(default_factory=KEnSDataConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    ensembles: list[Ensemble] = Field(default_factory=lambda: list(ENSEMBLES), description="weightings to evaluate")
    top_k: int = Field(10, ge=1, description="tails each model nominates per query")
    supporter_weight: float = Field(0.3, ge=0, description="'weighted': every supporter's vote (the target's is 1)")
    boosting_min_triples: int = Field(10, ge=0, description="boosting: entities need more validation triples than this")
    boosting_rounds: int = Field(5, ge=1, description="boosting rounds per entity")
    tie_break: float = Field(
        0.01,
        ge=0,
        description="votes + tie_break * Σ_i w_i (k - position_i) / k: ties of the 0/1 votes broken by the lists' "
        "order (0: the reference's pure votes, where k entities listed by the same models tie)",
    )
    boosting_miss_scale: float | None = Field(
        100.0, gt=0, description="boosting: random wrong entities per miss = miss_scale / Hits@k - k (null: none)"
    )

    @model_validator(mode="after")
    def _from_a_stage(self) -> KEnSEnsembleConfig:
        if self.model.from_ is None:
            raise ValueError("a kens_ensemble stage ensembles a trained kens model: use model: {from: STAGE}")
        if not self.ensembles:
            raise ValueError(f"ensembles: give at least one of {', '.join(ENSEMBLES)}")
        return self


@torch.no_grad()
def view_topk(
    model: KEnSModel, views: LanguageViews, target: int, queries: Tensor, filter_mask: Tensor, k: int
) -> tuple[Tensor, list[Tensor], dict[int, float]]:
    """The target model's filtered scores (Q, E_t) and every model's filtered top-k in target ids (target first).

    Also returns, per supporter, the fraction of queries whose head has a counterpart there.
    """
    view: KGView = views.views[target]
    heads, relations = queries[:, 0], queries[:, 1]
    scores = model.view(target).score_tails(heads, relations)
    filtered = scores.masked_fill(filter_mask, float("-inf"))
    lists = [topk_entities(filtered, k)]
    coverage = {}
    for s in range(model.num_views):
        if s == target:
            continue
        to_sup = alignment_map(model.pair(target, s), view.num_entities)
        heads_sup = map_ids(heads, to_sup)
        valid = heads_sup >= 0
        coverage[s] = valid.double().mean().item() if len(valid) else 0.0
        supporter = model.view(s)
        sup_scores = supporter.score_tails(heads_sup.clamp_min(0), relations.clamp_max(supporter.num_relations - 1))
        gathered = sup_scores[:, to_sup.clamp_min(0)]
        hidden = ~(to_sup >= 0)[None, :] | ~valid[:, None] | filter_mask
        lists.append(topk_entities(gathered.masked_fill(hidden, float("-inf")), k))
    return scores, lists, coverage


def rank_bonus(top: list[Tensor], weights: Tensor, num_entities: int) -> Tensor:
    """(Q, E): Σ_i w_i (k − position_i(e)) / k over the lists that hold e (0 elsewhere); weights (Q, M)."""
    votes = torch.zeros(weights.shape[0], num_entities + 1, device=weights.device)
    for i, ids in enumerate(top):
        k = ids.shape[1]
        value = (k - torch.arange(k, device=ids.device, dtype=torch.float32)) / k
        slots = torch.where(ids >= 0, ids, torch.full_like(ids, num_entities)).long()
        votes.scatter_add_(1, slots, weights[:, i : i + 1] * value.expand(len(ids), -1))
    return votes[:, :num_entities]


def learn_view_weights(
    ensembles: list[str],
    top: list[Tensor],
    true_tails: Tensor,
    heads: Tensor,
    num_entities: int,
    supporter_weight: float = 0.3,
    **boosting: Any,
) -> dict[str, Tensor]:
    """Each ensemble's model weights from validation top-k lists (target first): (M,) or (E, M) for boosting."""
    weights = {}
    for name in ensembles:
        extra = boosting if name == "boosting" else {}
        weights[name] = learn_weights(
            name,  # type: ignore[arg-type]
            top,
            true_tails,
            heads=heads,
            num_entities=num_entities,
            supporter_weight=supporter_weight,
            **extra,
        )
    return weights


def _hits(result: dict[str, float]) -> dict[str, float]:
    return {f"hits_at_{k}": result[f"hits@{k}"] for k in KS} | {"mrr": result["mrr"]}


@register_stage("kens_ensemble")
class KEnSEnsembleStage(Stage):
    """Per target view: the single model's and each ensemble's filtered tail Hits@1/3/10 and MRR on test."""

    config_class = KEnSEnsembleConfig
    provides = ("metrics",)
    distributed = False
    headline_metrics: ClassVar[dict[str, str]] = {
        "mean_single_hits_at_10": "single H@10",
        "mean_majority_hits_at_10": "majority H@10",
        "mean_mrr_hits_at_10": "mrr H@10",
        "mean_weighted_hits_at_10": "weighted H@10",
        "mean_boosting_hits_at_10": "boosting H@10",
        "views_where_boosting_beats_single": "boosting wins",
    }

    def run(self) -> dict[str, Any]:
        cfg: KEnSEnsembleConfig = self.cfg
        seed_everything(cfg.engine.seed)
        model = self.ctx.load_model(cfg.model)
        if not isinstance(model, KEnSModel):
            raise ConfigError(f"stage {cfg.model.from_!r} made a {type(model).__name__}, not a kens model")
        views = load_views(cfg.data)
        sizes = [v.num_entities for v in views.views]
        if [m.num_entities for m in model.views] != sizes:
            raise ConfigError(
                f"stage {cfg.model.from_!r} embeds views of {[m.num_entities for m in model.views]} entities; this "
                f"stage's data has {sizes}: give both stages the same data config"
            )
        model.to(resolve_device(cfg.engine.device)).eval()
        device = next(model.parameters()).device
        boosting = {
            "min_triples": cfg.boosting_min_triples,
            "rounds": cfg.boosting_rounds,
            "miss_scale": cfg.boosting_miss_scale,
            "seed": cfg.engine.seed,
        }
        metrics: dict[str, Any] = {}
        names = ["single", *cfg.ensembles]
        sums: dict[str, float] = {}
        wins = dict.fromkeys(cfg.ensembles, 0)
        saved_weights: dict[str, Any] = {}
        for t, view in enumerate(views.views):
            known = view.triples
            split_top = {}
            for split in ("valid", "test"):
                queries = getattr(view, split).to(device)
                mask = tail_filter_mask(queries.cpu(), known, view.num_entities).to(device)
                split_top[split] = (queries, mask, *view_topk(model, views, t, queries, mask, cfg.top_k))
            val_q, _, _, val_top, _ = split_top["valid"]
            test_q, test_mask, test_scores, test_top, coverage = split_top["test"]
            weights = learn_view_weights(
                list(cfg.ensembles),
                [x.cpu() for x in val_top],
                val_q[:, 2].cpu(),
                val_q[:, 0].cpu(),
                view.num_entities,
                cfg.supporter_weight,
                **boosting,
            )
            results = {"single": _hits(filtered_hits(test_scores, test_q[:, 2], test_mask))}
            for name, w in weights.items():
                per_query = query_weights(w.to(device), test_q[:, 0])
                votes = ensemble_scores(test_top, per_query, view.num_entities)
                if cfg.tie_break:
                    votes = votes + cfg.tie_break * rank_bonus(test_top, per_query, view.num_entities)
                results[name] = _hits(filtered_hits(votes, test_q[:, 2], test_mask))
                saved_weights[f"view{t}_{name}"] = w.tolist() if w.dim() == 1 else w.mean(dim=0).tolist()
            for name in names:
                for key, value in results[name].items():
                    metrics[f"view{t}_{name}_{key}"] = value
                    sums[f"{name}_{key}"] = sums.get(f"{name}_{key}", 0.0) + value
            for name in cfg.ensembles:
                wins[name] += int(results[name]["hits_at_10"] > results["single"]["hits_at_10"])
            metrics[f"view{t}_test_queries"] = len(test_q)
            metrics[f"view{t}_linked_heads"] = sum(coverage.values()) / max(1, len(coverage))
            line = ", ".join(f"{name} {results[name]['hits_at_10']:.3f}" for name in names)
            linked = metrics[f"view{t}_linked_heads"]
            self.ctx.log.info("%s: tail Hits@10 %s; heads linked %.2f", view.name, line, linked)
        metrics |= {f"mean_{key}": value / len(views.views) for key, value in sums.items()}
        metrics |= {f"views_where_{name}_beats_single": wins[name] for name in cfg.ensembles}
        (self.ctx.stage_dir / "weights.json").write_text(json.dumps(saved_weights, indent=1))
        return metrics
