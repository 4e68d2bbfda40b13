"""``kge``: one KGE model (TransE, RotatE, ComplEx) trained alone with self-adversarial negative sampling.

Sun et al., "RotatE: Knowledge Graph Embedding by Relational Rotation in Complex Space", ICLR 2019, arXiv
1902.10197 (docs/methods/kge.md). Per positive triple with score f (higher = more plausible)::

    L = -log σ(f_pos) - Σ_k p_k log σ(-f_neg_k),   p = softmax(α f_neg) (detached)

The teacher of a DualDE pipeline and the "student alone" baseline are both this method.
"""

from __future__ import annotations

from torch import Tensor

from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine.method import MethodEnv, register_method
from ssl_kd.kg.domain import TripleBatch
from ssl_kd.kg.methods.base import KGMethod, KGTrainConfig, kge_model
from ssl_kd.kg.models import KGEModel
from ssl_kd.losses.self_adversarial import SelfAdversarialLoss


class KGEConfig(KGTrainConfig):
    """A KGE model: ``model: {arch: rotate, options: {dim: 512, gamma: 8}}`` (or ``from`` an earlier stage)."""

    model: ModelSpec


@register_method("kge")
class KGE(KGMethod):
    """L = -log σ(f_pos) - Σ_k softmax(α f_neg)_k log σ(-f_neg_k): one KGE model, self-adversarial negatives."""

    config_class = KGEConfig

    def __init__(self, cfg: KGEConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.model = kge_model(cfg.model, env)
        self.loss = SelfAdversarialLoss(cfg.adversarial_temperature, adversarial=cfg.adversarial_temperature > 0)

    def training_step(self, batch: TripleBatch) -> dict[str, Tensor]:
        positive = self.model(batch.triples)
        negative = self.model.score_negatives(batch.triples, batch.negatives, batch.corrupt_head)
        return {"kge": self.loss(positive, negative)}

    def output_model(self) -> KGEModel:
        return self.model
