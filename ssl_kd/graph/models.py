"""Node classifiers over a whole graph: GNN teachers (GCN, GAT, APPNP) and CPF's student (docs/methods/cpf.md).

Every model maps a :class:`GraphInputs` (all nodes at once, full-batch) to (N, C) class scores and has a ``spec()``
that ``build_from_spec`` rebuilds it from. The GNN layers come from PyTorch Geometric (its pure-PyTorch path; it is
imported when a GNN is built, so loading the package stays light); the CPF student needs nothing beyond torch.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_kd.errors import ConfigError


class GraphInputs(NamedTuple):
    """What a node classifier reads: the whole graph.

    Attributes:
        features: (N, F) node features.
        edge_index: (2, E) int64 edges ``source -> target`` (both directions of every undirected edge).
        prior: (N, C) the label prior: one-hot labels on labelled nodes, uniform elsewhere (CPF's f^(0)).
        labelled: (N,) bool, the labelled nodes (CPF clamps them to their labels).
    """

    features: Tensor
    edge_index: Tensor
    prior: Tensor
    labelled: Tensor


class GraphModel(nn.Module):
    """Base of node classifiers: ``forward(GraphInputs) -> (N, C)`` scores, ``spec()`` for ``model.pt``."""

    arch: ClassVar[str]

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        for label, value in (("in_dim", in_dim), ("num_classes", num_classes)):
            if int(value) < 1:
                raise ConfigError(f"{type(self).__name__}: {label} must be at least 1, got {value}")
        self.in_dim = int(in_dim)
        self.num_classes = int(num_classes)

    def options(self) -> dict[str, Any]:
        """Constructor keyword arguments besides the sizes."""
        raise NotImplementedError

    def sizes(self) -> dict[str, int]:
        return {"in_dim": self.in_dim, "num_classes": self.num_classes}

    def spec(self) -> dict[str, Any]:
        """``{"arch": ..., "options": {...}}``: ``MODELS.get(arch)(**options)`` rebuilds the model."""
        return {"arch": self.arch, "options": {**self.sizes(), **self.options()}}

    def forward(self, graph: GraphInputs) -> Tensor:
        raise NotImplementedError


class GCN(GraphModel):
    """Two-layer GCN: Z = Â · dropout(ReLU(Â · dropout(X) W1)) W2, Â = D^-1/2 (A + I) D^-1/2.

    Kipf and Welling, "Semi-Supervised Classification with Graph Convolutional Networks", ICLR 2017, arXiv
    1609.02907; PyTorch Geometric's ``GCNConv``. CPF's teacher setting: hidden 64, dropout 0.8.
    """

    arch = "gcn"

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 64, dropout: float = 0.8) -> None:
        super().__init__(in_dim, num_classes)
        from torch_geometric.nn import GCNConv

        self.hidden, self.dropout = int(hidden), float(dropout)
        self.conv1 = GCNConv(self.in_dim, self.hidden)
        self.conv2 = GCNConv(self.hidden, self.num_classes)

    def options(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "dropout": self.dropout}

    def forward(self, graph: GraphInputs) -> Tensor:
        h = F.dropout(graph.features, self.dropout, self.training)
        h = F.relu(self.conv1(h, graph.edge_index))
        return self.conv2(F.dropout(h, self.dropout, self.training), graph.edge_index)


class GAT(GraphModel):
    """Two-layer GAT: ``heads`` attention heads of ``hidden`` units (ELU, concatenated), then one output head.

    Veličković et al., "Graph Attention Networks", ICLR 2018, arXiv 1710.10903; PyTorch Geometric's ``GATConv``
    (self-loops added). CPF's teacher setting: 8 heads of 8 units, feature and attention dropout 0.6.
    """

    arch = "gat"

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 8,
        heads: int = 8,
        dropout: float = 0.6,
        attn_dropout: float = 0.6,
    ) -> None:
        super().__init__(in_dim, num_classes)
        from torch_geometric.nn import GATConv

        self.hidden, self.heads = int(hidden), int(heads)
        self.dropout, self.attn_dropout = float(dropout), float(attn_dropout)
        self.conv1 = GATConv(self.in_dim, self.hidden, heads=self.heads, dropout=self.attn_dropout)
        self.conv2 = GATConv(self.hidden * self.heads, self.num_classes, heads=1, dropout=self.attn_dropout)

    def options(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "heads": self.heads, "dropout": self.dropout, "attn_dropout": self.attn_dropout}

    def forward(self, graph: GraphInputs) -> Tensor:
        h = F.dropout(graph.features, self.dropout, self.training)
        h = F.elu(self.conv1(h, graph.edge_index))
        return self.conv2(F.dropout(h, self.dropout, self.training), graph.edge_index)


class APPNP(GraphModel):
    """APPNP: an MLP's predictions H propagated K steps by personalised PageRank, Z ← (1 − α) Â Z + α H.

    Gasteiger (Klicpera), Bojchevski, Günnemann, "Predict then Propagate: Graph Neural Networks meet Personalized
    PageRank", ICLR 2019, arXiv 1810.05997; PyTorch Geometric's ``APPNP``. CPF's teacher setting: hidden 64,
    dropout 0.5, α = 0.1, K = 10; without its edge dropout of 0.5 (with PyTorch Geometric's, the digits graph's
    training loss stayed at ln 10).
    """

    arch = "appnp"

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        hidden: int = 64,
        dropout: float = 0.5,
        alpha: float = 0.1,
        steps: int = 10,
    ) -> None:
        super().__init__(in_dim, num_classes)
        from torch_geometric.nn import APPNP as Propagation

        self.hidden, self.dropout = int(hidden), float(dropout)
        self.alpha, self.steps = float(alpha), int(steps)
        self.lin1 = nn.Linear(self.in_dim, self.hidden)
        self.lin2 = nn.Linear(self.hidden, self.num_classes)
        self.propagate = Propagation(self.steps, self.alpha)

    def options(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "dropout": self.dropout, "alpha": self.alpha, "steps": self.steps}

    def forward(self, graph: GraphInputs) -> Tensor:
        h = F.relu(self.lin1(F.dropout(graph.features, self.dropout, self.training)))
        h = self.lin2(F.dropout(h, self.dropout, self.training))
        return self.propagate(h, graph.edge_index)


def edge_softmax(scores: Tensor, targets: Tensor, num_nodes: int) -> Tensor:
    """Per edge ``u -> v``: softmax of ``scores`` over the edges into the same target ``v``, (E,)."""
    peak = torch.full((num_nodes,), float("-inf"), dtype=scores.dtype, device=scores.device)
    peak = peak.scatter_reduce(0, targets, scores, reduce="amax", include_self=True)
    weights = torch.exp(scores - peak[targets])
    totals = torch.zeros(num_nodes, dtype=scores.dtype, device=scores.device).index_add(0, targets, weights)
    return weights / totals[targets]


class CPFStudent(GraphModel):
    """CPF's student: K steps of parameterised label propagation (PLP) mixed per node with a feature MLP (FT).

    Yang, Liu, Shi, "Extract the Knowledge of Graph Neural Networks and Go Beyond it: An Effective Knowledge
    Distillation Framework", WWW 2021, arXiv 2103.02885 (docs/methods/cpf.md)::

        f^(0)_v = onehot(y_v) on labelled nodes, uniform elsewhere
        c_u = <dropout(x_u), a>   ('ind')   |   c_u = dropout(free scalar of u)   ('tra')
        w_uv = softmax over u in N(v) of c_u          (attention-dropped; every node also has a self-loop)
        LP_v = sum_u w_uv f^(k-1)_u,   FT_v = MLP(x_v)
        f^(k)_v = ReLU(σ(α_v) LP_v + (1 − σ(α_v)) FT_v),  then labelled nodes re-clamped to onehot(y_v)

    ``variant``: ``cpf`` (the above), ``plp_only`` (f^(k) = LP, label propagation alone) or ``ft_only`` (f = FT,
    the MLP alone; no propagation). The gate σ(α_v) (:meth:`gates`) says how much of node v's prediction comes
    from structure (label propagation) rather than from its features. The dropout masks and the edge weights are
    drawn once per forward and shared by the K steps (the authors' code redraws them every step; at inference the
    two agree).
    """

    arch = "cpf"
    VARIANTS: ClassVar[tuple[str, ...]] = ("cpf", "plp_only", "ft_only")

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        num_nodes: int,
        ptype: Literal["ind", "tra"] = "ind",
        variant: Literal["cpf", "plp_only", "ft_only"] = "cpf",
        steps: int = 10,
        hidden: int = 64,
        mlp_layers: int = 2,
        feat_dropout: float = 0.6,
        attn_dropout: float = 0.6,
    ) -> None:
        super().__init__(in_dim, num_classes)
        if ptype not in ("ind", "tra"):
            raise ConfigError(f"cpf: ptype must be 'ind' (features) or 'tra' (a scalar per node), got {ptype!r}")
        if variant not in self.VARIANTS:
            raise ConfigError(f"cpf: variant must be one of {', '.join(self.VARIANTS)}, got {variant!r}")
        if int(steps) < 1 or int(mlp_layers) < 1 or int(num_nodes) < 1:
            raise ConfigError("cpf: steps, mlp_layers and num_nodes must be at least 1")
        self.num_nodes, self.ptype, self.variant = int(num_nodes), ptype, variant
        self.steps, self.hidden, self.mlp_layers = int(steps), int(hidden), int(mlp_layers)
        self.feat_dropout, self.attn_dropout = float(feat_dropout), float(attn_dropout)
        gain = nn.init.calculate_gain("relu")
        if ptype == "ind":
            self.attention = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, self.in_dim), gain=gain))
        else:
            self.attention = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.num_nodes, 1), gain=gain))
        self.alpha = nn.Parameter(torch.zeros(self.num_nodes))
        widths = [self.in_dim] + [self.hidden] * (self.mlp_layers - 1) + [self.num_classes]
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))

    def sizes(self) -> dict[str, int]:
        return {"in_dim": self.in_dim, "num_classes": self.num_classes, "num_nodes": self.num_nodes}

    def options(self) -> dict[str, Any]:
        return {
            "ptype": self.ptype,
            "variant": self.variant,
            "steps": self.steps,
            "hidden": self.hidden,
            "mlp_layers": self.mlp_layers,
            "feat_dropout": self.feat_dropout,
            "attn_dropout": self.attn_dropout,
        }

    def gates(self) -> Tensor:
        """Per node, the weight of label propagation in its prediction: σ(α_v) (1 for ``plp_only``, 0 for
        ``ft_only``), (N,)."""
        if self.variant == "plp_only":
            return torch.ones_like(self.alpha)
        if self.variant == "ft_only":
            return torch.zeros_like(self.alpha)
        return torch.sigmoid(self.alpha)

    def feature_transform(self, features: Tensor) -> Tensor:
        """FT: the MLP over raw features (dropout before every layer, ReLU between), (N, C)."""
        h = features
        for index, layer in enumerate(self.mlp):
            h = layer(F.dropout(h, self.feat_dropout, self.training))
            if index < len(self.mlp) - 1:
                h = F.relu(h)
        return h

    def propagation_weights(self, graph: GraphInputs) -> tuple[Tensor, Tensor, Tensor]:
        """(sources, targets, w): the edges with a self-loop per node and their PLP weights w_uv."""
        loops = torch.arange(len(graph.features), device=graph.edge_index.device)
        sources = torch.cat([graph.edge_index[0], loops])
        targets = torch.cat([graph.edge_index[1], loops])
        if self.ptype == "ind":
            confidence = (F.dropout(graph.features, self.feat_dropout, self.training) * self.attention).sum(dim=1)
        else:
            confidence = F.dropout(self.attention, self.feat_dropout, self.training).flatten()
        weights = edge_softmax(confidence[sources], targets, len(graph.features))
        return sources, targets, F.dropout(weights, self.attn_dropout, self.training)

    def forward(self, graph: GraphInputs) -> Tensor:
        clamp = graph.labelled.unsqueeze(1)
        if self.variant == "ft_only":
            return torch.where(clamp, graph.prior, self.feature_transform(graph.features))
        sources, targets, weights = self.propagation_weights(graph)
        transformed = self.feature_transform(graph.features) if self.variant == "cpf" else None
        gate = torch.sigmoid(self.alpha).unsqueeze(1)
        h = graph.prior
        for _ in range(self.steps):
            propagated = torch.zeros_like(h).index_add(0, targets, weights.unsqueeze(1) * h[sources])
            h = propagated if transformed is None else F.relu(gate * propagated + (1 - gate) * transformed)
            h = torch.where(clamp, graph.prior, h)
        return h


GRAPH_MODELS: dict[str, type[GraphModel]] = {model.arch: model for model in (GCN, GAT, APPNP, CPFStudent)}
