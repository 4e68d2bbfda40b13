"""``gnn``: a GNN node classifier (GCN, GAT, APPNP) trained with cross-entropy on the labelled nodes.

The teachers of CPF (docs/methods/cpf.md): full-batch, one step per epoch, early stopping on ``val_accuracy``
(``early_stopping: {metric: val_accuracy, patience: 50}``)::

    L = − (1 / |V_L|) Σ_{v∈V_L} log softmax(Z_v)_{y_v}
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ssl_kd.config.schema import ModelSpec
from ssl_kd.engine.method import MethodEnv, register_method
from ssl_kd.graph.methods.base import GraphMethod, GraphTrainConfig, graph_model
from ssl_kd.graph.models import GraphModel


class GNNConfig(GraphTrainConfig):
    """A node classifier: ``model: {arch: gcn, options: {hidden: 64, dropout: 0.8}}`` (or ``from`` a stage)."""

    model: ModelSpec


@register_method("gnn")
class GNN(GraphMethod):
    """L = mean over labelled nodes of −log softmax(Z_v)[y_v]: a GNN trained on the labelled nodes alone."""

    config_class = GNNConfig

    def __init__(self, cfg: GNNConfig, env: MethodEnv) -> None:
        super().__init__(cfg, env)
        self.model = graph_model(cfg.model, env)

    def training_step(self, nodes: Tensor) -> dict[str, Tensor]:
        scores = self.model(self.graph_inputs())
        return {"ce": F.cross_entropy(scores[nodes], self.labels[nodes])}

    def output_model(self) -> GraphModel:
        return self.model
