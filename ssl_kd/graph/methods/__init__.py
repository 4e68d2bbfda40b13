"""Node-classification methods: ``gnn`` (the GNN teachers) and ``cpf`` (docs/methods/cpf.md)."""

from ssl_kd.graph.methods import cpf, gnn  # noqa: F401  (registration)
