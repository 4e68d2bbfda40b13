"""What every node-classification method shares: its config, the graph on the device, and how it gets a model."""

from __future__ import annotations

import inspect
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from ssl_kd.config.schema import ModelSpec, TrainStageConfig
from ssl_kd.engine.method import MethodEnv, TrainableMethod
from ssl_kd.errors import ConfigError, did_you_mean
from ssl_kd.graph.data import NodeGraph
from ssl_kd.graph.domain import DOMAIN, GraphDataConfig, GraphFacts
from ssl_kd.graph.models import GRAPH_MODELS, GraphInputs, GraphModel


class GraphTrainConfig(TrainStageConfig):
    """A node-classification training stage on one graph (full-batch)."""

    data: GraphDataConfig = Field(default_factory=GraphDataConfig)


def graph_model(spec: ModelSpec, env: MethodEnv) -> GraphModel:
    """A new ``spec.arch`` sized to the stage's graph, or an earlier stage's node classifier (same graph size)."""
    facts: GraphFacts = env.facts
    sizes = {"in_dim": facts.num_features, "num_classes": facts.num_classes, "num_nodes": facts.num_nodes}
    if spec.from_ is None:
        spec.refuse_pretrained("a node classifier")
        model_class = GRAPH_MODELS.get(str(spec.arch))
        if model_class is None:
            raise ConfigError(
                f"model {spec.arch!r} is not a node classifier; this domain takes {', '.join(GRAPH_MODELS)}"
            )
        params = [name for name in inspect.signature(model_class).parameters if name not in sizes]
        for name in spec.options:
            if name not in params:
                raise ConfigError(
                    f"unknown option {name!r} for model {spec.arch!r}{did_you_mean(name, params)}; valid options: "
                    f"{', '.join(params)}"
                )
        needed = {name: value for name, value in sizes.items() if name in inspect.signature(model_class).parameters}
        return model_class(**needed, **spec.options)
    model = env.load_model(spec)
    if not isinstance(model, GraphModel):
        raise ConfigError(f"stage {spec.from_!r} made a {type(model).__name__}, not a node classifier")
    found = model.sizes()
    if any(found[name] != sizes[name] for name in found):
        raise ConfigError(f"stage {spec.from_!r} made a model for a graph of {found}; this stage's graph has {sizes}")
    return model


def inputs_of(graph: NodeGraph) -> GraphInputs:
    """What a node classifier reads of ``graph``: features, edges, CPF's label prior and the labelled-node mask."""
    labelled = torch.zeros(graph.num_nodes, dtype=torch.bool)
    labelled[graph.labelled] = True
    prior = torch.full((graph.num_nodes, graph.num_classes), 1.0 / graph.num_classes)
    prior[graph.labelled] = F.one_hot(graph.labels[graph.labelled], graph.num_classes).float()
    return GraphInputs(graph.features, graph.edge_index, prior, labelled)


class GraphMethod(TrainableMethod):
    """Base of node-classification methods. The graph lives on the method's device as (non-checkpointed) buffers;
    a batch's ``inputs`` are the ids of the nodes its loss covers (``loss_nodes``)."""

    domains = (DOMAIN,)
    loss_nodes: ClassVar[Literal["labelled", "unlabelled"]] = "labelled"
    """Which nodes the training loader hands the method: labelled ones (cross-entropy) or the others (distillation)."""

    def __init__(self, cfg: GraphTrainConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        graph: NodeGraph = env.data
        inputs = inputs_of(graph)
        buffers = {
            **inputs._asdict(),
            "labels": graph.labels,
            "validation_nodes": graph.validation,
            "test_nodes": graph.test,
        }
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    def graph_inputs(self) -> GraphInputs:
        """The whole graph, on the method's device."""
        return GraphInputs(self.features, self.edge_index, self.prior, self.labelled)

    def nodes(self, split: Literal["validation", "test"]) -> Tensor:
        return self.validation_nodes if split == "validation" else self.test_nodes

    def step(self, inputs: Tensor, phase: int) -> dict[str, Tensor]:
        return self.training_step(inputs)

    def training_step(self, nodes: Tensor) -> dict[str, Tensor]:
        """The weighted loss terms of one full-graph forward, the loss taken on ``nodes``."""
        raise NotImplementedError
