"""Weighted cosine kNN classifier on frozen features (docs/methods/probes.md, [reconstruction]).

``f = normalize(feature)``; ``N_k`` = the top-k bank rows by cosine similarity ``s_j``;
``score(c) = sum_{j in N_k} exp(s_j / T) * 1[y_j = c]``; the prediction is ``argmax_c score(c)``.
The ``k20`` preset (k = 20, T = 0.07, solo-learn ``WeightedKNNClassifier`` with cosine) is the default here.
"""

from __future__ import annotations

import importlib.util
import math

import torch
import torch.nn.functional as F
from torch import Tensor

BACKENDS = ("auto", "faiss", "torch")
_QUERY_CHUNK = 1024


def _faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def resolve_backend(backend: str) -> str:
    """Map ``"auto"`` to ``"faiss"`` when faiss is importable, else ``"torch"``; validate the name.

    Args:
        backend: One of ``BACKENDS``.

    Returns:
        ``"faiss"`` or ``"torch"``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown kNN backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "faiss" if _faiss_available() else "torch"
    if backend == "faiss" and not _faiss_available():
        raise ValueError("kNN backend 'faiss' needs the faiss package (pip install 'ssl_kd[faiss]')")
    return backend


def _faiss_topk(bank: Tensor, queries: Tensor, k: int) -> Tensor:
    """Exact inner-product search (``IndexFlatIP``) on unit vectors; a GPU index when faiss and CUDA allow."""
    import faiss

    bank_np = bank.detach().float().cpu().contiguous().numpy()
    query_np = queries.detach().float().cpu().contiguous().numpy()
    on_gpu = torch.cuda.is_available() and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    resources = faiss.StandardGpuResources() if on_gpu else None
    index = faiss.GpuIndexFlatIP(resources, bank_np.shape[1]) if on_gpu else faiss.IndexFlatIP(bank_np.shape[1])
    index.add(bank_np)
    _, indices = index.search(query_np, k)
    return torch.from_numpy(indices).long().to(queries.device)


def _torch_topk(bank: Tensor, queries: Tensor, k: int) -> Tensor:
    """Chunked ``queries @ bank.T`` followed by ``topk``, on the tensors' device."""
    chunks = [(chunk @ bank.T).topk(k, dim=1).indices for chunk in queries.split(_QUERY_CHUNK)]
    return torch.cat(chunks) if chunks else queries.new_zeros((0, k), dtype=torch.long)


def _similarities(bank: Tensor, queries: Tensor, indices: Tensor) -> Tensor:
    """Cosine similarities of unit-norm ``queries`` to the bank rows at ``indices`` (Q x k dot products)."""
    chunks = zip(queries.split(_QUERY_CHUNK), indices.split(_QUERY_CHUNK), strict=True)
    return torch.cat(
        [torch.einsum("qd,qkd->qk", q, bank[idx]) for q, idx in chunks] or [queries.new_zeros(indices.shape)]
    )


def _validate(k: int, temperature: float | None = None) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")


def knn_neighbors(bank: Tensor, queries: Tensor, k: int, backend: str = "auto") -> tuple[Tensor, Tensor]:
    """Find the ``k`` most cosine-similar bank rows of each query, best first.

    Both backends rank L2-normalised float32 features by inner product (= cosine). The similarities are
    recomputed in torch from the returned indices, so both backends weight votes identically.

    Args:
        bank: Bank features ``(N, D)``.
        queries: Query features ``(Q, D)``.
        k: Number of neighbours; clamped to ``N``.
        backend: ``"faiss"`` (``IndexFlatIP``; a faiss-gpu index when CUDA and faiss-gpu are available),
            ``"torch"`` (chunked matmul + topk) or ``"auto"`` (faiss if importable, else torch).

    Returns:
        ``(similarities, indices)``, both ``(Q, min(k, N))``, on the queries' device.
    """
    _validate(k)
    if bank.shape[0] == 0:
        raise ValueError("the kNN bank is empty")
    k = min(k, bank.shape[0])
    bank_n = F.normalize(bank.float(), dim=1).to(queries.device)
    query_n = F.normalize(queries.float(), dim=1)
    search = _faiss_topk if resolve_backend(backend) == "faiss" else _torch_topk
    indices = search(bank_n, query_n, k)
    return _similarities(bank_n, query_n, indices), indices


def knn_predict(
    bank: Tensor,
    bank_labels: Tensor,
    queries: Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    backend: str = "auto",
) -> Tensor:
    """Predict labels by the exp(s/T)-weighted vote of the ``k`` nearest bank rows (docs/methods/probes.md).

    Args:
        bank: Bank features ``(N, D)``.
        bank_labels: Bank labels ``(N,)`` in ``[0, num_classes)``.
        queries: Query features ``(Q, D)``.
        num_classes: Number of classes.
        k: Number of neighbours; clamped to ``N``.
        temperature: Vote temperature ``T`` (> 0).
        backend: See :func:`knn_neighbors`.

    Returns:
        Predicted labels ``(Q,)`` (ties go to the lower class index).
    """
    _validate(k, temperature)
    similarities, indices = knn_neighbors(bank, queries, k, backend)
    # Subtracting each query's best similarity rescales its scores by a constant: same argmax, no overflow.
    weights = torch.exp((similarities - similarities[:, :1]) / temperature)
    votes = bank_labels.to(indices.device).long()[indices]
    scores = weights.new_zeros(queries.shape[0], num_classes).scatter_add_(1, votes, weights)
    return scores.argmax(dim=1)


def knn_top1(
    bank: Tensor,
    bank_labels: Tensor,
    queries: Tensor,
    query_labels: Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    backend: str = "auto",
) -> float:
    """Top-1 accuracy (fraction in 0..1) of :func:`knn_predict` on labelled queries.

    Args:
        bank: Bank features ``(N, D)``.
        bank_labels: Bank labels ``(N,)``.
        queries: Query features ``(Q, D)``.
        query_labels: Query labels ``(Q,)``.
        num_classes: Number of classes.
        k: Number of neighbours; clamped to ``N``.
        temperature: Vote temperature ``T`` (> 0).
        backend: See :func:`knn_neighbors`.

    Returns:
        The fraction of queries whose predicted label is correct.
    """
    predictions = knn_predict(bank, bank_labels, queries, num_classes, k, temperature, backend)
    return (predictions == query_labels.to(predictions.device)).float().mean().item()
