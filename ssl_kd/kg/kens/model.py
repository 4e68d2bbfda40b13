"""The output model of a KEnS embedding stage: one KGE model per view plus the alignment links it learned with.

``model.pt`` round-trips through ``ssl_kd.models.base.build_from_spec``: the spec names ``kens_views`` and the
per-view sizes; the link set (seed plus self-learned links, which grows during training) is a buffer that takes the
size of the saved one when loaded.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ssl_kd.kg.models import KGEModel, build_kge
from ssl_kd.registry import MODELS

ARCH = "kens_views"
RESIZED_BUFFERS = ("links", "link_round")


class KEnSModel(nn.Module):
    """KGE models of several views in one module, with their alignment links.

    Buffers:
        links: (L, 4) int64 rows ``(a, b, id in a, id in b)`` with a < b: the seed links, then the self-learned ones.
        link_round: (L,) int64: 0 for seed links, i for the links added in self-learning round i.

    Args:
        kge_arch: ``transe``, ``rotate`` or ``complex`` (every view the same).
        num_entities, num_relations: per view.
        dim: embedding dimension; further keyword options (``gamma``, ``p``) go to every view's model.
        names: the views' names.
    """

    arch = ARCH

    def __init__(
        self,
        kge_arch: str,
        num_entities: list[int],
        num_relations: list[int],
        dim: int,
        names: list[str] | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        if len(num_entities) != len(num_relations) or len(num_entities) < 2:
            raise ValueError("KEnS needs at least two views, with entity and relation counts for each")
        self.kge_arch = kge_arch
        self.names = list(names) if names is not None else [f"view{i}" for i in range(len(num_entities))]
        self.kge_options = dict(options)
        self.views = nn.ModuleList(
            build_kge(kge_arch, num_entities=n, num_relations=r, dim=dim, **options)
            for n, r in zip(num_entities, num_relations, strict=True)
        )
        self.dim = int(dim)
        self.register_buffer("links", torch.zeros(0, 4, dtype=torch.long))
        self.register_buffer("link_round", torch.zeros(0, dtype=torch.long))

    @property
    def num_views(self) -> int:
        return len(self.views)

    def view(self, index: int) -> KGEModel:
        return self.views[index]  # type: ignore[return-value]

    def spec(self) -> dict[str, Any]:
        options = {
            "kge_arch": self.kge_arch,
            "num_entities": [v.num_entities for v in self.views],
            "num_relations": [v.num_relations for v in self.views],
            "dim": self.dim,
            "names": self.names,
            **self.kge_options,
        }
        return {"arch": ARCH, "options": options}

    def pair(self, a: int, b: int, max_round: int | None = None) -> Tensor:
        """(L, 2) links between views a and b as (id in a, id in b), either order; up to round ``max_round``."""
        lo, hi = min(a, b), max(a, b)
        keep = (self.links[:, 0] == lo) & (self.links[:, 1] == hi)
        if max_round is not None:
            keep &= self.link_round <= max_round
        rows = self.links[keep][:, 2:]
        return rows if a < b else rows.flip(1)

    def add_links(self, rows: Tensor, round_index: int) -> None:
        """Append (n, 4) rows ``(a, b, id in a, id in b)`` as the links of round ``round_index``."""
        rows = rows.to(self.links)
        self.links = torch.cat([self.links, rows])
        self.link_round = torch.cat([self.link_round, torch.full((len(rows),), round_index).to(self.link_round)])

    def _load_from_state_dict(self, state_dict: dict[str, Tensor], prefix: str, *args: Any, **kwargs: Any) -> None:
        for name in RESIZED_BUFFERS:  # the link set grows in training: take the saved size
            saved = state_dict.get(prefix + name)
            if saved is not None and saved.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty(saved.shape, dtype=saved.dtype, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


MODELS.register(ARCH)(KEnSModel)
