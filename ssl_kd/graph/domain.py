"""The node-classification domain: one graph, a few labelled nodes per class, accuracy on the test nodes.

Datasets (``data.name``): ``digits_graph`` (embedded: scikit-learn's digits as nodes of a symmetric kNN graph,
``data.knn`` neighbours), ``planetoid`` (the raw ``ind.<graph>.*`` files of Cora, Citeseer or Pubmed in
``data.root``, ``data.graph``) and ``graph_npz`` (CPF's ``.npz`` layout: ``data.root`` the file, or a folder and
``data.graph``). Cleaning, the largest component and CPF's split are in :mod:`ssl_kd.graph.data`.

Training is full-batch: every step runs the model over the whole graph, which the method holds on its device as
buffers; a batch only names the nodes its loss covers (``Batch.sample_ids``, what throughput counts): the labelled
nodes for a GNN's cross-entropy, the unlabelled ones for CPF's distillation. ``data.batch_size`` caps the nodes of
one step (default: all of them, one step per epoch). The validator reports ``val_accuracy`` (early stopping), the
evaluator ``test_accuracy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ssl_kd.config.schema import DatasetConfig
from ssl_kd.engine.domain import Domain, DomainData, Evaluate, Placement, register_domain, whole_batch_loader
from ssl_kd.engine.method import Batch, TrainableMethod
from ssl_kd.engine.sampler import ResumableBatchSampler
from ssl_kd.evaluation.node_accuracy import node_accuracy
from ssl_kd.graph.data import (
    PLANETOID_GRAPHS,
    NodeGraph,
    RawGraph,
    digits_graph,
    npz_graph,
    npz_path,
    planetoid_graph,
    prepare_graph,
)
from ssl_kd.graph.models import GRAPH_MODELS
from ssl_kd.registry import DATASETS, MODELS, register_dataset

DOMAIN = "node_classification"


class GraphDataConfig(DatasetConfig):
    """Which graph a node-classification stage reads, and CPF's split of it."""

    domains: ClassVar[tuple[str, ...]] = (DOMAIN,)

    name: str = Field("digits_graph", description="digits_graph (embedded), planetoid or graph_npz (data.root)")
    graph: str | None = Field(
        None, description="planetoid: Cora, Citeseer or Pubmed; graph_npz: the .npz file's name in the data.root folder"
    )
    knn: int = Field(10, ge=1, description="digits_graph: nearest neighbours per node (the graph is made symmetric)")
    labels_per_class: int = Field(20, ge=1, description="labelled nodes per class (CPF: 20)")
    validation_per_class: int = Field(30, ge=1, description="validation nodes per class (CPF: 30); the rest is test")
    split_seed: int = Field(0, description="seed of the labelled / validation draw")
    row_normalize: bool = Field(True, description="divide each node's features by their sum (as CPF's code does)")
    batch_size: int = Field(
        1_000_000, ge=1, description="training nodes per step; default: all of them (full-batch, one step per epoch)"
    )

    @field_validator("graph")
    @classmethod
    def _planetoid_name(cls, graph: str | None, info: ValidationInfo) -> str | None:
        """A Planetoid graph's name in its usual spelling (``cora`` -> ``Cora``)."""
        if graph is None or info.data.get("name") != "planetoid":
            return graph
        known = {name.lower(): name for name in PLANETOID_GRAPHS}
        if graph.lower() not in known:
            raise ValueError(f"data.graph {graph!r} is not a Planetoid graph: {', '.join(PLANETOID_GRAPHS)}")
        return known[graph.lower()]

    @model_validator(mode="after")
    def _graph_named(self) -> GraphDataConfig:
        if self.name == "planetoid" and self.graph is None:
            raise ValueError(f"planetoid needs data.graph: one of {', '.join(PLANETOID_GRAPHS)}")
        if self.name == "digits_graph" and self.graph is not None:
            raise ValueError("data.graph names a graph in data.root (planetoid, graph_npz), not for digits_graph")
        return self

    @model_serializer(mode="wrap")
    def _drop_inapplicable_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``knn`` only shapes the digits graph and ``graph`` only names a file: left out of other dumps (and so of
        fingerprints), so that a pipeline's ``knn`` does not block ``data.name=planetoid``."""
        dumped = handler(self)
        if self.name != "digits_graph":
            dumped.pop("knn", None)
        if self.graph is None:
            dumped.pop("graph", None)
        return dumped


@dataclass(frozen=True)
class GraphFacts:
    """What a node-classification method may know of its graph."""

    num_nodes: int
    num_features: int
    num_classes: int
    dataset: str


for _arch, _model_class in GRAPH_MODELS.items():
    MODELS.register(_arch)(_model_class)


@register_dataset("digits_graph", requires_root=False, domain=DOMAIN)
def build_digits_graph(data: GraphDataConfig) -> RawGraph:
    """scikit-learn's digits as a kNN graph (``data.knn``)."""
    return digits_graph(data.knn)


@register_dataset("planetoid", requires_root=True, domain=DOMAIN)
def build_planetoid(data: GraphDataConfig) -> RawGraph:
    """Cora, Citeseer or Pubmed (``data.graph``) from the raw Planetoid files in ``data.root``."""
    return planetoid_graph(data.root, str(data.graph))


@register_dataset("graph_npz", requires_root=True, domain=DOMAIN)
def build_graph_npz(data: GraphDataConfig) -> RawGraph:
    """A graph in CPF's ``.npz`` layout: ``data.root`` the file, or a folder holding ``<data.graph>.npz``."""
    return npz_graph(npz_path(data.root, data.graph))


class NodeBatches(Dataset):
    """Whole batches of node ids: item = the sampler's list of ``(index, seed)``; the batch's inputs are the ids."""

    def __init__(self, nodes: Tensor) -> None:
        self.nodes = nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, items: list[tuple[int, int]]) -> Batch:
        ids = self.nodes[torch.as_tensor([index for index, _ in items], dtype=torch.int64)]
        return Batch(ids, ids, [])


def node_graph(data: DomainData) -> NodeGraph:
    return data.splits


def _accuracy_on(method: TrainableMethod, split: str) -> Evaluate:
    """Accuracy of ``method.output_model()`` on the ``split`` nodes of the graph the method holds (eval mode)."""
    key = "test_accuracy" if split == "test" else "val_accuracy"

    def evaluate() -> dict[str, float]:
        was_training = method.training
        method.eval()
        with torch.inference_mode():
            scores = method.output_model()(method.graph_inputs())
        method.train(was_training)
        return {key: node_accuracy(scores, method.labels, method.nodes(split))}

    return evaluate


@register_domain
class NodeClassification(Domain):
    """Semi-supervised node classification on one graph (transductive): labels of a few nodes per class known."""

    name = DOMAIN
    headline_metrics: ClassVar[dict[str, str]] = {"test_accuracy": "node acc"}

    def load(self, cfg: Any) -> DomainData:
        data: GraphDataConfig = cfg.data
        raw = DATASETS.get(data.name).build(data)
        graph = prepare_graph(
            raw, data.labels_per_class, data.validation_per_class, data.split_seed, data.row_normalize
        )
        facts = GraphFacts(graph.num_nodes, graph.features.shape[1], graph.num_classes, data.name)
        return DomainData(facts=facts, num_train_samples=len(graph.labelled), splits=graph)

    def train_loader(
        self, data: DomainData, cfg: Any, method_class: type[TrainableMethod], placement: Placement
    ) -> tuple[DataLoader, ResumableBatchSampler]:
        graph = node_graph(data)
        nodes = graph.labelled if method_class.loss_nodes == "labelled" else graph.unlabelled
        return whole_batch_loader(NodeBatches(nodes), cfg, placement)

    def evaluator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        accuracy = _accuracy_on(method, "test")
        test_nodes = len(node_graph(data).test)
        return lambda: accuracy() | {"test_nodes": test_nodes}

    def validator(self, data: DomainData, cfg: Any, method: TrainableMethod, placement: Placement) -> Evaluate:
        return _accuracy_on(method, "validation")

    def model_metadata(self, data: DomainData, cfg: Any) -> dict[str, Any]:
        graph = node_graph(data)
        return {
            "dataset": cfg.data.name,
            "data": cfg.data.model_dump(mode="json"),
            "classes": graph.classes,
            "num_nodes": graph.num_nodes,
            "source_ids": graph.source_ids.tolist(),
            "labelled_nodes": graph.labelled.tolist(),
            "inputs": "GraphInputs(features, edge_index, prior, labelled) of the graph `data` names, loaded by "
            "ssl_kd.graph (node i is source node source_ids[i]; CPF students also clamp labelled_nodes)",
        }

    def describe(self, data: DomainData) -> str:
        graph = node_graph(data)
        return (
            f"{graph.source}: {graph.num_nodes} nodes, {graph.edge_index.shape[1] // 2} edges, "
            f"{graph.features.shape[1]} features, {graph.num_classes} classes; {len(graph.labelled)} labelled / "
            f"{len(graph.validation)} validation / {len(graph.test)} test nodes; {graph.cleaning.describe()}"
        )
