"""Knowledge-graph embedding models TransE, RotatE and ComplEx at any dimension (docs/methods/kge.md).

Every model scores a triple (h, r, t) with a real number, higher = more plausible. ``dim`` is the embedding
dimension as the papers count it: real for TransE; complex for RotatE and ComplEx, whose entities hold ``2 * dim``
reals stored as ``[real parts, imaginary parts]`` (the layout of the RotatE code, ``torch.chunk(x, 2, dim=-1)``).

Scoring all candidates (``score_tails`` / ``score_heads``) works over an entity-id range ``[start, end)`` so that a
ranking evaluator can chunk the entities. TransE uses one ``torch.cdist`` and ComplEx one matmul, both (B, C) memory;
RotatE broadcasts a (B, C, D) tensor, which the model itself cuts into pieces of at most ``broadcast_budget``
elements, so memory stays bounded whatever C the caller asks for.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ssl_kd.errors import ConfigError, did_you_mean


class KGEModel(nn.Module):
    """Base class: entity and relation ``nn.Embedding`` tables and batched scoring.

    Subclasses define ``_score(h, r, t)`` over broadcastable real embeddings and may override
    ``score_tails`` / ``score_heads`` with a cheaper all-candidates form.

    Args:
        num_entities: number of entities.
        num_relations: number of relations.
        dim: embedding dimension as the paper counts it (see the module docstring).
        gamma: margin of the distance models, score = gamma - distance (ignored by ComplEx).
    """

    arch: ClassVar[str]
    #: Most elements one broadcast (B, C, D) tensor may hold in ``score_tails`` / ``score_heads`` (2**20: 4 MiB of
    #: float32; small pieces stay in cache and were fastest on UMLS with 512-d RotatE).
    broadcast_budget: ClassVar[int] = 2**20

    def __init__(self, num_entities: int, num_relations: int, dim: int, gamma: float = 12.0) -> None:
        super().__init__()
        for label, value in (("num_entities", num_entities), ("num_relations", num_relations), ("dim", dim)):
            if int(value) < 1:
                raise ConfigError(f"{type(self).__name__}: {label} must be at least 1, got {value}")
        self.num_entities = int(num_entities)
        self.num_relations = int(num_relations)
        self.dim = int(dim)
        self.gamma = float(gamma)
        self.entity = nn.Embedding(self.num_entities, self.entity_width)
        self.relation = nn.Embedding(self.num_relations, self.relation_width)

    # --- layout -------------------------------------------------------------------------------------------------
    @property
    def entity_width(self) -> int:
        """Reals per entity embedding."""
        return self.dim

    @property
    def relation_width(self) -> int:
        """Reals per relation embedding."""
        return self.dim

    @property
    def embedding_parameters(self) -> int:
        """Number of reals in the entity and relation tables."""
        return self.entity.weight.numel() + self.relation.weight.numel()

    def options(self) -> dict[str, Any]:
        """Constructor keyword arguments besides the sizes."""
        return {"gamma": self.gamma}

    def spec(self) -> dict[str, Any]:
        """``{"arch": ..., "options": {...}}``; ``build_kge(spec["arch"], **spec["options"])`` rebuilds the model."""
        sizes = {"num_entities": self.num_entities, "num_relations": self.num_relations, "dim": self.dim}
        return {"arch": self.arch, "options": {**sizes, **self.options()}}

    def extra_repr(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.options().items())
        return f"entities={self.num_entities}, relations={self.num_relations}, dim={self.dim}, {options}"

    # --- scoring ------------------------------------------------------------------------------------------------
    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores of broadcastable embeddings h (..., De), r (..., Dr), t (..., De) -> (...)."""
        raise NotImplementedError

    def entity_vectors(self, ids: Tensor) -> Tensor:
        """Real view of entity embeddings, (B, entity_width): for structure losses over embeddings.

        For RotatE and ComplEx these are the real parts followed by the imaginary parts (2 * dim reals).
        """
        return self.entity(ids)

    def score_hrt(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores of triples given as id tensors h, r, t (B,) -> (B,)."""
        return self._score(self.entity(h), self.relation(r), self.entity(t))

    def forward(self, triples: Tensor) -> Tensor:
        """Scores of (B, 3) id rows (head, relation, tail) -> (B,)."""
        return self.score_hrt(triples[:, 0], triples[:, 1], triples[:, 2])

    def score_negatives(self, triples: Tensor, negatives: Tensor, corrupt_head: Tensor) -> Tensor:
        """Scores of corrupted triples, (B, K): row b replaces the head (if ``corrupt_head[b]``) or the tail of
        ``triples[b]`` by each entity id in ``negatives[b]`` (B, K)."""
        h = self.entity(triples[:, 0]).unsqueeze(1)
        r = self.relation(triples[:, 1]).unsqueeze(1)
        t = self.entity(triples[:, 2]).unsqueeze(1)
        n = self.entity(negatives)
        side = corrupt_head.view(-1, 1, 1)
        return self._score(torch.where(side, n, h), r, torch.where(side, t, n))

    def _range(self, start: int, end: int | None) -> tuple[int, int]:
        end = self.num_entities if end is None else end
        if not 0 <= start <= end <= self.num_entities:
            raise ValueError(f"entity range [{start}, {end}) is outside [0, {self.num_entities})")
        return start, end

    def _broadcast_chunks(self, batch: int, start: int, end: int) -> list[tuple[int, int]]:
        step = max(1, self.broadcast_budget // max(1, batch * self.entity_width))
        return [(s, min(s + step, end)) for s in range(start, end, step)] or [(start, end)]

    def score_tails(self, h: Tensor, r: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """Scores of (h, r, e) for every entity e in ``[start, end)``: h, r (B,) -> (B, end - start)."""
        start, end = self._range(start, end)
        hv, rv = self.entity(h).unsqueeze(1), self.relation(r).unsqueeze(1)
        parts = [
            self._score(hv, rv, self.entity.weight[s:e].unsqueeze(0))
            for s, e in self._broadcast_chunks(len(h), start, end)
        ]
        return torch.cat(parts, dim=1)

    def score_heads(self, r: Tensor, t: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """Scores of (e, r, t) for every entity e in ``[start, end)``: r, t (B,) -> (B, end - start)."""
        start, end = self._range(start, end)
        rv, tv = self.relation(r).unsqueeze(1), self.entity(t).unsqueeze(1)
        parts = [
            self._score(self.entity.weight[s:e].unsqueeze(0), rv, tv)
            for s, e in self._broadcast_chunks(len(t), start, end)
        ]
        return torch.cat(parts, dim=1)


class TransE(KGEModel):
    """TransE: f(h, r, t) = gamma - ||h + r - t||_p, with h, r, t in R^dim.

    Bordes et al., "Translating Embeddings for Modeling Multi-relational Data", NeurIPS 2013; docs/methods/kge.md.
    Initialisation as the RotatE code's TransE: uniform in ±(gamma + 2) / dim.

    Args:
        p: the norm, 1 (default) or 2.
    """

    arch = "transe"

    def __init__(self, num_entities: int, num_relations: int, dim: int, gamma: float = 12.0, p: int = 1) -> None:
        super().__init__(num_entities, num_relations, dim, gamma)
        if p not in (1, 2):
            raise ConfigError(f"TransE: p must be 1 or 2, got {p}")
        self.p = int(p)
        bound = (self.gamma + 2.0) / self.dim
        nn.init.uniform_(self.entity.weight, -bound, bound)
        nn.init.uniform_(self.relation.weight, -bound, bound)

    def options(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "p": self.p}

    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self.gamma - torch.linalg.vector_norm(h + r - t, ord=self.p, dim=-1)

    def score_negatives(self, triples: Tensor, negatives: Tensor, corrupt_head: Tensor) -> Tensor:
        """gamma - ||n - q||_p with q = h + r (tail replaced) or t - r (head replaced): one (B, K, D) difference."""
        h, r, t = self.entity(triples[:, 0]), self.relation(triples[:, 1]), self.entity(triples[:, 2])
        query = torch.where(corrupt_head.unsqueeze(1), t - r, h + r).unsqueeze(1)
        return self.gamma - torch.linalg.vector_norm(self.entity(negatives) - query, ord=self.p, dim=-1)

    def _cdist(self, query: Tensor, start: int, end: int) -> Tensor:
        candidates = self.entity.weight[start:end]
        return self.gamma - torch.cdist(query, candidates, p=self.p, compute_mode="donot_use_mm_for_euclid_dist")

    def score_tails(self, h: Tensor, r: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """gamma - ||(h + r) - e||_p for all e: one ``torch.cdist``, (B, C) memory, no (B, C, D) broadcast."""
        start, end = self._range(start, end)
        return self._cdist(self.entity(h) + self.relation(r), start, end)

    def score_heads(self, r: Tensor, t: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """gamma - ||e - (t - r)||_p for all e: one ``torch.cdist``."""
        start, end = self._range(start, end)
        return self._cdist(self.entity(t) - self.relation(r), start, end)


class RotatE(KGEModel):
    """RotatE: f(h, r, t) = gamma - sum_i |h_i * r_i - t_i|, with h, t in C^dim and r_i = exp(i theta_i).

    Sun et al., "RotatE: Knowledge Graph Embedding by Relational Rotation in Complex Space", ICLR 2019,
    arXiv 1902.10197; docs/methods/kge.md. ``dim`` is the complex dimension: an entity holds 2 * dim reals
    ``[Re, Im]``, a relation holds dim reals. As in the authors' code (DeepGraphLearning/KnowledgeGraphEmbedding,
    ``model.py``) entities and relations are initialised uniform in ±embedding_range with
    embedding_range = (gamma + epsilon) / dim, epsilon = 2, and the phase is theta = relation / (embedding_range / pi).

    Args:
        p: 1 (default, the paper: sum of complex moduli) or 2 (sqrt of the sum of squared moduli, pykeen's RotatE).
    """

    arch = "rotate"
    epsilon: ClassVar[float] = 2.0
    TINY: ClassVar[float] = 1e-30

    def __init__(self, num_entities: int, num_relations: int, dim: int, gamma: float = 12.0, p: int = 1) -> None:
        super().__init__(num_entities, num_relations, dim, gamma)
        if p not in (1, 2):
            raise ConfigError(f"RotatE: p must be 1 or 2, got {p}")
        self.p = int(p)
        self.embedding_range = (self.gamma + self.epsilon) / self.dim
        nn.init.uniform_(self.entity.weight, -self.embedding_range, self.embedding_range)
        nn.init.uniform_(self.relation.weight, -self.embedding_range, self.embedding_range)

    @property
    def entity_width(self) -> int:
        return 2 * self.dim

    def options(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "p": self.p}

    def phases(self, relation_embedding: Tensor) -> Tensor:
        """theta = relation / (embedding_range / pi)."""
        return relation_embedding / (self.embedding_range / math.pi)

    def _distance(self, re: Tensor, im: Tensor) -> Tensor:
        """sum_i |z_i| (p = 1) or sqrt(sum_i |z_i|^2) (p = 2) of z = re + i im over the last dimension.

        Without autograd: one ``torch.hypot`` kernel. With autograd the gradient of a zero modulus is 0 (as
        ``Tensor.norm`` in the RotatE code), not the NaN of d sqrt(x) / dx at 0.
        """
        if not (torch.is_grad_enabled() and (re.requires_grad or im.requires_grad)):
            modulus = torch.hypot(re, im)
            return modulus.sum(dim=-1) if self.p == 1 else torch.linalg.vector_norm(modulus, dim=-1)
        squared = re * re + im * im
        if self.p == 2:
            squared = squared.sum(dim=-1)
        modulus = squared.clamp_min(self.TINY).sqrt()  # clamp: zero gradient at a zero modulus, value off by 1e-15
        return modulus.sum(dim=-1) if self.p == 1 else modulus

    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        h_re, h_im = h.chunk(2, dim=-1)
        t_re, t_im = t.chunk(2, dim=-1)
        theta = self.phases(r)
        r_re, r_im = torch.cos(theta), torch.sin(theta)
        return self.gamma - self._distance(h_re * r_re - h_im * r_im - t_re, h_re * r_im + h_im * r_re - t_im)

    def rotations(self, r: Tensor) -> tuple[Tensor, Tensor]:
        """cos theta, sin theta of relations ``r`` (ids)."""
        theta = self.phases(self.relation(r))
        return torch.cos(theta), torch.sin(theta)

    def score_negatives(self, triples: Tensor, negatives: Tensor, corrupt_head: Tensor) -> Tensor:
        """gamma - d(n, q) with q = h * r (tail replaced) or conj(r) * t (head replaced, as |n * r - t| = |n - conj(r)
        * t|): the rotation is done once per positive, leaving one (B, K, D) difference per negative."""
        r_re, r_im = self.rotations(triples[:, 1])
        h_re, h_im = self.entity(triples[:, 0]).chunk(2, dim=-1)
        t_re, t_im = self.entity(triples[:, 2]).chunk(2, dim=-1)
        side = corrupt_head.unsqueeze(1)
        q_re = torch.where(side, t_re * r_re + t_im * r_im, h_re * r_re - h_im * r_im).unsqueeze(1)
        q_im = torch.where(side, t_im * r_re - t_re * r_im, h_re * r_im + h_im * r_re).unsqueeze(1)
        n_re, n_im = self.entity(negatives).chunk(2, dim=-1)
        return self.gamma - self._distance(n_re - q_re, n_im - q_im)

    def score_heads(self, r: Tensor, t: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """As the base class, rotating the tail back instead: |h * r - t| = |h - conj(r) * t| since |r_i| = 1."""
        start, end = self._range(start, end)
        theta = self.phases(self.relation(r))
        r_re, r_im = torch.cos(theta), torch.sin(theta)
        t_re, t_im = self.entity(t).chunk(2, dim=-1)
        x_re = (t_re * r_re + t_im * r_im).unsqueeze(1)  # conj(r) * t
        x_im = (t_im * r_re - t_re * r_im).unsqueeze(1)
        parts = []
        for s, e in self._broadcast_chunks(len(t), start, end):
            c_re, c_im = self.entity.weight[s:e].unsqueeze(0).chunk(2, dim=-1)
            parts.append(self.gamma - self._distance(c_re - x_re, c_im - x_im))
        return torch.cat(parts, dim=1)

    def score_tails(self, h: Tensor, r: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """As the base class, rotating the head once per query rather than once per candidate."""
        start, end = self._range(start, end)
        theta = self.phases(self.relation(r))
        r_re, r_im = torch.cos(theta), torch.sin(theta)
        h_re, h_im = self.entity(h).chunk(2, dim=-1)
        x_re = (h_re * r_re - h_im * r_im).unsqueeze(1)
        x_im = (h_re * r_im + h_im * r_re).unsqueeze(1)
        parts = []
        for s, e in self._broadcast_chunks(len(h), start, end):
            c_re, c_im = self.entity.weight[s:e].unsqueeze(0).chunk(2, dim=-1)
            parts.append(self.gamma - self._distance(x_re - c_re, x_im - c_im))
        return torch.cat(parts, dim=1)


class ComplEx(KGEModel):
    """ComplEx: f(h, r, t) = Re(<h, r, conj(t)>) = Re(sum_i h_i r_i conj(t_i)), with h, r, t in C^dim; no gamma.

    Trouillon et al., "Complex Embeddings for Simple Link Prediction", ICML 2016, arXiv 1606.06357;
    docs/methods/kge.md. ``dim`` is the complex dimension: entities and relations hold 2 * dim reals ``[Re, Im]``.
    Initialisation standard normal, as the authors' code and pykeen. All-candidate scoring is one matmul.
    """

    arch = "complex"

    def __init__(self, num_entities: int, num_relations: int, dim: int, init_std: float = 1.0) -> None:
        super().__init__(num_entities, num_relations, dim, gamma=0.0)
        self.init_std = float(init_std)
        nn.init.normal_(self.entity.weight, std=self.init_std)
        nn.init.normal_(self.relation.weight, std=self.init_std)

    @property
    def entity_width(self) -> int:
        return 2 * self.dim

    @property
    def relation_width(self) -> int:
        return 2 * self.dim

    def options(self) -> dict[str, Any]:
        return {"init_std": self.init_std}

    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        h_re, h_im = h.chunk(2, dim=-1)
        r_re, r_im = r.chunk(2, dim=-1)
        t_re, t_im = t.chunk(2, dim=-1)
        return (h_re * r_re * t_re + h_im * r_re * t_im + h_re * r_im * t_im - h_im * r_im * t_re).sum(dim=-1)

    def score_tails(self, h: Tensor, r: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """Re(<h r, conj(e)>) = [Re(h r), Im(h r)] . [Re(e), Im(e)] for all e: one (B, 2d) x (2d, C) matmul."""
        start, end = self._range(start, end)
        h_re, h_im = self.entity(h).chunk(2, dim=-1)
        r_re, r_im = self.relation(r).chunk(2, dim=-1)
        query = torch.cat([h_re * r_re - h_im * r_im, h_re * r_im + h_im * r_re], dim=-1)
        return query @ self.entity.weight[start:end].T

    def score_heads(self, r: Tensor, t: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """Re(<e, r conj(t)>) = [Re(r conj t), -Im(r conj t)] . [Re(e), Im(e)] for all e: one matmul."""
        start, end = self._range(start, end)
        r_re, r_im = self.relation(r).chunk(2, dim=-1)
        t_re, t_im = self.entity(t).chunk(2, dim=-1)
        query = torch.cat([r_re * t_re + r_im * t_im, -(r_im * t_re - r_re * t_im)], dim=-1)
        return query @ self.entity.weight[start:end].T


KGE_MODELS: dict[str, type[KGEModel]] = {cls.arch: cls for cls in (TransE, RotatE, ComplEx)}


def build_kge(arch: str, **options: Any) -> KGEModel:
    """Build a KGE model by arch name: ``build_kge("rotate", num_entities=..., num_relations=..., dim=...)``."""
    key = arch.lower()
    if key not in KGE_MODELS:
        raise ConfigError(f"unknown KGE arch {arch!r}{did_you_mean(key, KGE_MODELS)}; known: {', '.join(KGE_MODELS)}")
    try:
        return KGE_MODELS[key](**options)
    except TypeError as error:
        raise ConfigError(f"KGE arch {key!r}: {error}") from None
