"""The node-classification domain: graphs, GNN teachers and CPF's distilled student.

Importing the package registers the domain, its datasets (``digits_graph``, ``planetoid``, ``graph_npz``), its models
(``gcn``, ``gat``, ``appnp``, ``cpf``) and its methods (``gnn``, ``cpf``). See docs/methods/cpf.md.
"""

from ssl_kd.graph import domain, methods  # noqa: F401  (registration)
from ssl_kd.graph.data import NodeGraph, RawGraph, digits_graph, npz_graph, planetoid_graph, prepare_graph
from ssl_kd.graph.models import APPNP, GAT, GCN, GRAPH_MODELS, CPFStudent, GraphInputs, GraphModel

__all__ = [
    "APPNP",
    "GAT",
    "GCN",
    "GRAPH_MODELS",
    "CPFStudent",
    "GraphInputs",
    "GraphModel",
    "NodeGraph",
    "RawGraph",
    "digits_graph",
    "npz_graph",
    "planetoid_graph",
    "prepare_graph",
]
