"""``kens``: KEnS embedding and alignment of several KGs, with self-learning rounds (docs/methods/kens.md).

Chen et al., "Multilingual Knowledge Graph Completion via Ensemble Knowledge Transfer", Findings of EMNLP 2020,
arXiv 2010.03158. One KGE model per view (same arch and size), trained jointly on every batch::

    L = Σ_v (1/B) Σ_{rows of view v} L_SA(f_v(pos), f_v(negs))  +  align_weight · mean_{sampled links} ‖e_a − e'_b‖₂

with L_SA the self-adversarial loss of ``kge`` (``ssl_kd.losses.self_adversarial``) [reconstruction: the reference
code uses a margin loss for TransE and its softplus form for RotatE, in alternating phases; here both terms are
one sum per step] and ``align_batch_size`` links drawn from the current link set with the engine's per-step RNG.
Every ``epochs_per_round`` epochs (up to ``self_learning_rounds`` times) each pair of views gets the CSLS mutual
nearest neighbours of their entity embeddings (already-linked entities excluded) as new links
(``ssl_kd.kg.alignment``). The link set lives in the output model's buffers and the round statistics in this
method's buffers, so a checkpoint holds them and a resumed run continues exactly.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator
from torch import Tensor

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.engine.method import MethodEnv, TrainableMethod, register_method
from ssl_kd.kg.alignment import alignment_precision, mutual_nearest_neighbours
from ssl_kd.kg.kens.data import DOMAIN, KEnSDataConfig, KEnSFacts, ViewTripleBatch, pair_links
from ssl_kd.kg.kens.model import KEnSModel
from ssl_kd.kg.models import KGE_MODELS
from ssl_kd.kg.views import LanguageViews
from ssl_kd.losses.alignment import AlignmentLoss
from ssl_kd.losses.self_adversarial import SelfAdversarialLoss


class KEnSConfig(TrainStageConfig):
    """KEnS's switches (docs/methods/kens.md, 'Switches')."""

    data: KEnSDataConfig = Field(default_factory=KEnSDataConfig)
    model: ModelSpec = Field(description="every view's KGE model: {arch: transe|rotate|complex, options: {dim, gamma}}")
    adversarial_temperature: float = Field(1.0, ge=0, description="self-adversarial alpha; 0: uniform negatives")
    align_weight: float = Field(1.0, ge=0, description="weight of the alignment loss")
    align_batch_size: int = Field(256, ge=1, description="alignment links drawn per step")
    epochs_per_round: int = Field(5, ge=1, description="epochs between self-learning rounds")
    self_learning_rounds: int = Field(2, ge=0, description="most self-learning rounds (0: seed links only)")
    csls_k: int = Field(3, ge=1, description="CSLS neighbourhood size")

    @model_validator(mode="after")
    def _new_kge_model(self) -> KEnSConfig:
        if self.model.from_ is not None or self.model.arch not in KGE_MODELS:
            raise ValueError(f"model: kens trains new KGE models; give arch: one of {', '.join(KGE_MODELS)}")
        return self


def true_links(views: LanguageViews) -> dict[tuple[int, int], Tensor]:
    """Every pair's true (seed and held-out) links, (id in a, id in b)."""
    return {pair: links.all for pair, links in views.links.items()}


@register_method("kens")
class KEnS(TrainableMethod):
    """Per-view self-adversarial KGE losses plus the alignment loss; CSLS self-learning in ``on_epoch_end``."""

    config_class = KEnSConfig
    domains = (DOMAIN,)
    find_unused_parameters = True  # a batch may hold no triple of some view

    def __init__(self, cfg: KEnSConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        facts: KEnSFacts = env.facts
        options = dict(cfg.model.options)
        dim = options.pop("dim", 100)
        self.model = KEnSModel(
            cfg.model.arch, list(facts.num_entities), list(facts.num_relations), dim, list(facts.names), **options
        )
        views: LanguageViews = env.data
        seed, held_out = pair_links(views)
        self.model.add_links(seed, 0)
        self.truth = true_links(views)
        self.has_held_out = len(held_out) > 0
        rounds = cfg.self_learning_rounds
        self.register_buffer("rounds_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("round_new_links", torch.zeros(rounds, dtype=torch.long))
        self.register_buffer("round_correct", torch.zeros(rounds, dtype=torch.long))
        self.held_out_total = len(held_out)
        self.kge_loss = SelfAdversarialLoss(
            cfg.adversarial_temperature, adversarial=cfg.adversarial_temperature > 0, reduction="none"
        )
        self.align_loss = AlignmentLoss()

    def step(self, inputs: ViewTripleBatch, phase: int) -> dict[str, Tensor]:
        batch = inputs
        total = batch.triples.new_zeros((), dtype=torch.float32)
        for v in range(self.model.num_views):
            rows = torch.nonzero(batch.view == v).squeeze(1)
            if not len(rows):
                continue
            model = self.model.view(v)
            triples = batch.triples[rows]
            positive = model(triples)
            negative = model.score_negatives(triples, batch.negatives[rows], batch.corrupt_head[rows])
            total = total + self.kge_loss(positive, negative).sum()
        terms = {"kge": total / len(batch.view)}
        if self.cfg.align_weight > 0 and len(self.model.links):
            terms["align"] = self.cfg.align_weight * self._alignment()
        return terms

    def _alignment(self) -> Tensor:
        links = self.model.links
        drawn = links[torch.randint(len(links), (min(self.cfg.align_batch_size, len(links)),)).to(links.device)]
        side_a, side_b = [], []
        for a, b in torch.unique(drawn[:, :2], dim=0).tolist():
            rows = drawn[(drawn[:, 0] == a) & (drawn[:, 1] == b)]
            side_a.append(self.model.view(a).entity_vectors(rows[:, 2]))
            side_b.append(self.model.view(b).entity_vectors(rows[:, 3]))
        return self.align_loss(torch.cat(side_a), torch.cat(side_b))

    def on_epoch_end(self, epoch: int) -> None:
        done = int(self.rounds_done)
        if (epoch + 1) % self.cfg.epochs_per_round or done >= self.cfg.self_learning_rounds:
            return
        self.self_learning_round(done + 1)

    @torch.no_grad()
    def self_learning_round(self, round_index: int) -> None:
        """Add every pair's CSLS mutual nearest neighbours (unlinked entities only) as the links of this round."""
        new_rows, found, correct = [], 0, 0
        for a in range(self.model.num_views):
            for b in range(a + 1, self.model.num_views):
                linked = self.model.pair(a, b)
                pairs = mutual_nearest_neighbours(
                    self.model.view(a).entity.weight,
                    self.model.view(b).entity.weight,
                    k=self.cfg.csls_k,
                    exclude_a=linked[:, 0],
                    exclude_b=linked[:, 1],
                )
                if not len(pairs):
                    continue
                found += len(pairs)
                truth = self.truth.get((a, b))
                if truth is not None and len(truth):
                    correct += round(alignment_precision(pairs, truth) * len(pairs))
                prefix = torch.tensor([a, b], device=pairs.device).expand(len(pairs), 2)
                new_rows.append(torch.cat([prefix, pairs], dim=1))
        if new_rows:
            self.model.add_links(torch.cat(new_rows), round_index)
        self.round_new_links[round_index - 1] = found
        self.round_correct[round_index - 1] = correct
        self.rounds_done.fill_(round_index)

    def extra_metrics(self) -> dict[str, float]:
        """Links found and their precision per self-learning round; held-out links recovered in the end."""
        metrics: dict[str, float] = {"align_links": float(len(self.model.links))}
        for i in range(int(self.rounds_done)):
            found, correct = int(self.round_new_links[i]), int(self.round_correct[i])
            metrics[f"align_new_links_round{i + 1}"] = float(found)
            if self.has_held_out:
                metrics[f"align_precision_round{i + 1}"] = correct / found if found else math.nan
        if self.has_held_out:
            metrics["align_held_out_recall"] = int(self.round_correct.sum()) / self.held_out_total
        return metrics

    def output_model(self) -> KEnSModel:
        return self.model
