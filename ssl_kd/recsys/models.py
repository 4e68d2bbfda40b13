"""BPR-MF: matrix factorisation scored by inner products, the teacher and the students of HTD (docs/methods/htd.md).

Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009; as in the topology-distillation
code (``model.py``, class ``BPR``): user and item embeddings of ``dim`` reals initialised N(0, 0.01²), score
s_ui = ⟨e_u, e_i⟩.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ssl_kd.errors import ConfigError


class BPRMF(nn.Module):
    """User and item embedding tables; ``score_items`` ranks every item for a batch of users.

    Args:
        num_users: number of users.
        num_items: number of items.
        dim: embedding dimension (200 for the HTD teacher, 10 or 20 for its students).
        init_std: standard deviation of the normal initialisation.
    """

    arch = "bpr_mf"

    def __init__(self, num_users: int, num_items: int, dim: int, init_std: float = 0.01) -> None:
        super().__init__()
        for label, value in (("num_users", num_users), ("num_items", num_items), ("dim", dim)):
            if int(value) < 1:
                raise ConfigError(f"BPR-MF: {label} must be at least 1, got {value}")
        self.num_users, self.num_items, self.dim = int(num_users), int(num_items), int(dim)
        self.init_std = float(init_std)
        self.user = nn.Embedding(self.num_users, self.dim)
        self.item = nn.Embedding(self.num_items, self.dim)
        nn.init.normal_(self.user.weight, mean=0.0, std=self.init_std)
        nn.init.normal_(self.item.weight, mean=0.0, std=self.init_std)

    @property
    def embedding_parameters(self) -> int:
        """Reals in the user and item tables."""
        return self.user.weight.numel() + self.item.weight.numel()

    def spec(self) -> dict[str, Any]:
        """``{"arch": "bpr_mf", "options": {...}}``; ``BPRMF(**spec["options"])`` rebuilds the model."""
        options = {"num_users": self.num_users, "num_items": self.num_items, "dim": self.dim}
        return {"arch": self.arch, "options": options | {"init_std": self.init_std}}

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        """Scores ⟨e_u, e_i⟩ of paired ids ``users`` (B,) and ``items`` (B,) -> (B,)."""
        return (self.user(users) * self.item(items)).sum(-1)

    def score_items(self, users: Tensor) -> Tensor:
        """Scores of every item for ``users`` (B,) -> (B, num_items)."""
        return self.user(users) @ self.item.weight.T

    def extra_repr(self) -> str:
        return f"users={self.num_users}, items={self.num_items}, dim={self.dim}"


def build_bpr_mf(num_users: int, num_items: int, options: dict[str, Any]) -> BPRMF:
    """A fresh BPR-MF sized to the data, with the spec's ``options`` (``dim``, ``init_std``)."""
    unknown = sorted(set(options) - {"dim", "init_std"})
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for model 'bpr_mf'; valid options: dim, init_std")
    if "dim" not in options:
        raise ConfigError("model 'bpr_mf' needs options: {dim: N}")
    return BPRMF(num_users, num_items, **options)
