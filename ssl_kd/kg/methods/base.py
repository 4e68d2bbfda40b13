"""What every link-prediction method shares: its config fields and how it gets a KGE model."""

from __future__ import annotations

from pydantic import Field

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.engine.method import MethodEnv, TrainableMethod
from ssl_kd.errors import ConfigError
from ssl_kd.kg.domain import DOMAIN, KGDataConfig, KGFacts, TripleBatch
from ssl_kd.kg.models import KGE_MODELS, KGEModel, build_kge


class KGTrainConfig(TrainStageConfig):
    """A link-prediction training stage: a knowledge graph and self-adversarial negative sampling."""

    data: KGDataConfig = Field(default_factory=KGDataConfig)
    num_negatives: int = Field(128, ge=1, description="uniform negatives per positive triple (head or tail side)")
    adversarial_temperature: float = Field(
        1.0, ge=0, description="alpha of self-adversarial negative weights softmax(alpha * score); 0: uniform"
    )


def kge_model(spec: ModelSpec, env: MethodEnv) -> KGEModel:
    """A new KGE ``spec.arch`` sized to the stage's graph, or an earlier stage's KGE model (same graph size)."""
    facts: KGFacts = env.facts
    if spec.from_ is None:
        spec.refuse_pretrained("a KGE model")
        if spec.arch not in KGE_MODELS:
            raise ConfigError(f"model {spec.arch!r} is not a KGE model; link prediction takes {', '.join(KGE_MODELS)}")
        return build_kge(spec.arch, num_entities=facts.num_entities, num_relations=facts.num_relations, **spec.options)
    model = env.load_model(spec)
    if not isinstance(model, KGEModel):
        raise ConfigError(f"stage {spec.from_!r} made a {type(model).__name__}, not a KGE model")
    if (model.num_entities, model.num_relations) != (facts.num_entities, facts.num_relations):
        raise ConfigError(
            f"stage {spec.from_!r} embeds {model.num_entities} entities and {model.num_relations} relations; this "
            f"stage's graph {facts.dataset!r} has {facts.num_entities} and {facts.num_relations}"
        )
    return model


class KGMethod(TrainableMethod):
    """Base of link-prediction methods: batches are :class:`~ssl_kd.kg.domain.TripleBatch` es."""

    domains = (DOMAIN,)

    def step(self, inputs: TripleBatch, phase: int) -> dict:
        return self.training_step(inputs)

    def training_step(self, batch: TripleBatch) -> dict:
        """The weighted loss terms of one batch of positive triples and their negatives."""
        raise NotImplementedError
