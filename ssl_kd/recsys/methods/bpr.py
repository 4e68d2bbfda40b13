"""``bpr``: one BPR-MF recommender trained alone, the HTD teacher and the "student alone" baseline.

Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009 (docs/methods/htd.md)::

    L = −Σ_(u,i,j) log σ(⟨e_u, e_i⟩ − ⟨e_u, e_j⟩)
"""

from __future__ import annotations

from torch import Tensor

from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine.method import MethodEnv, register_method
from ssl_kd.losses.bpr import BPRLoss
from ssl_kd.recsys.domain import InteractionBatch
from ssl_kd.recsys.methods.base import RecMethod, RecTrainConfig, bpr_mf_model
from ssl_kd.recsys.models import BPRMF


class BPRConfig(RecTrainConfig):
    """A BPR-MF model: ``model: {arch: bpr_mf, options: {dim: 200}}`` (or ``from`` an earlier stage)."""

    model: ModelSpec


@register_method("bpr")
class BPR(RecMethod):
    """L = −Σ log σ(s_ui − s_uj): one BPR-MF model, one uniform negative item per training interaction."""

    config_class = BPRConfig

    def __init__(self, cfg: BPRConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.model = bpr_mf_model(cfg.model, env)
        self.loss = BPRLoss()

    def training_step(self, batch: InteractionBatch) -> dict[str, Tensor]:
        positive = self.model(batch.users, batch.positives)
        negative = self.model(batch.users, batch.negatives)
        return {"bpr": self.loss(positive, negative)}

    def output_model(self) -> BPRMF:
        return self.model
