"""What every recommendation method shares: its config fields and how it gets a BPR-MF model."""

from __future__ import annotations

from pydantic import Field

from ssl_kd.config.schema import ModelSpec, OptimConfig, TrainStageConfig
from ssl_kd.engine.method import MethodEnv, TrainableMethod
from ssl_kd.errors import ConfigError
from ssl_kd.recsys.domain import DOMAIN, InteractionBatch, RecDataConfig, RecFacts
from ssl_kd.recsys.models import BPRMF, build_bpr_mf


def topology_optim() -> OptimConfig:
    """The topology-distillation code's optimiser settings: Adam, lr 1e-3, weight decay 1e-3, constant lr."""
    return OptimConfig(name="adam", lr=1e-3, weight_decay=1e-3, schedule="constant")


class RecTrainConfig(TrainStageConfig):
    """A recommendation training stage: implicit-feedback interactions, BPR-style batches."""

    data: RecDataConfig = Field(default_factory=RecDataConfig)
    optim: OptimConfig = Field(default_factory=topology_optim)


def bpr_mf_model(spec: ModelSpec, env: MethodEnv) -> BPRMF:
    """A new BPR-MF sized to the stage's data, or an earlier stage's BPR-MF (same users and items)."""
    facts: RecFacts = env.facts
    if spec.from_ is None:
        spec.refuse_pretrained("a recommender")
        if spec.arch != BPRMF.arch:
            raise ConfigError(f"model {spec.arch!r} is not a recommender; recommendation takes {BPRMF.arch}")
        return build_bpr_mf(facts.num_users, facts.num_items, spec.options)
    model = env.load_model(spec)
    if not isinstance(model, BPRMF):
        raise ConfigError(f"stage {spec.from_!r} made a {type(model).__name__}, not a BPR-MF recommender")
    if (model.num_users, model.num_items) != (facts.num_users, facts.num_items):
        raise ConfigError(
            f"stage {spec.from_!r} embeds {model.num_users} users and {model.num_items} items; this stage's data "
            f"{facts.dataset!r} has {facts.num_users} and {facts.num_items}"
        )
    return model


class RecMethod(TrainableMethod):
    """Base of recommendation methods: batches are :class:`~ssl_kd.recsys.domain.InteractionBatch` es."""

    domains = (DOMAIN,)

    def step(self, inputs: InteractionBatch, phase: int) -> dict:
        return self.training_step(inputs)

    def training_step(self, batch: InteractionBatch) -> dict:
        """The weighted loss terms of one batch of (user, positive, negative) interactions."""
        raise NotImplementedError
