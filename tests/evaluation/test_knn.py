"""Golden-value and backend-agreement tests for the weighted cosine kNN (docs/methods/probes.md)."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.evaluation.knn import knn_neighbors, knn_predict, knn_top1

BACKENDS = ["torch", "faiss"]


def _require(backend: str) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")


def _golden_bank() -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 at 0 degrees, two class-1 rows at cosine 0.8 from it, class 2 opposite; arbitrary norms."""
    directions = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6], [-1.0, 0.0]])
    return directions * torch.tensor([[3.0], [0.5], [2.0], [7.0]]), torch.tensor([0, 1, 1, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_neighbours_golden(backend: str) -> None:
    _require(backend)
    bank, _ = _golden_bank()
    similarities, indices = knn_neighbors(bank, torch.tensor([[0.6, 0.8]]), k=3, backend=backend)
    assert indices.tolist() == [[1, 0, 2]]
    assert similarities[0].tolist() == pytest.approx([0.96, 0.6, 0.0], abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("temperature", "expected"), [(0.25, 0), (0.35, 1)])
def test_weighted_vote_golden(backend: str, temperature: float, expected: int) -> None:
    # Query (1, 0), k = 3: s = 1.0 (class 0), 0.8 and 0.8 (class 1).
    # T = 0.25: exp(4.0) = 54.6 > 2 exp(3.2) = 49.1, so the single closer neighbour beats the 2:1 majority.
    # T = 0.35: exp(2.857) = 17.4 < 2 exp(2.286) = 19.7, so the majority wins. Crossover T = 0.2 / ln 2.
    _require(backend)
    assert (math.exp(1 / temperature) > 2 * math.exp(0.8 / temperature)) == (expected == 0)
    bank, labels = _golden_bank()
    query = torch.tensor([[2.0, 0.0]])
    prediction = knn_predict(bank, labels, query, 3, k=3, temperature=temperature, backend=backend)
    assert prediction.tolist() == [expected]


def test_backends_agree_on_random_features() -> None:
    pytest.importorskip("faiss")
    generator = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(500, 64, generator=generator), torch.randn(100, 64, generator=generator)
    labels = torch.randint(0, 7, (500,), generator=generator)
    sim_t, idx_t = knn_neighbors(bank, queries, k=10, backend="torch")
    sim_f, idx_f = knn_neighbors(bank, queries, k=10, backend="faiss")
    assert torch.equal(idx_t, idx_f)
    assert torch.equal(sim_t, sim_f)
    pred_t = knn_predict(bank, labels, queries, 7, k=10, backend="torch")
    assert torch.equal(pred_t, knn_predict(bank, labels, queries, 7, k=10, backend="faiss"))


def test_k_larger_than_bank_is_clamped() -> None:
    bank, labels = _golden_bank()
    similarities, indices = knn_neighbors(bank, torch.randn(5, 2), k=20, backend="torch")
    assert similarities.shape == indices.shape == (5, 4)
    assert knn_predict(bank, labels, torch.randn(5, 2), 3, k=20, backend="torch").shape == (5,)


def test_top1_of_bank_against_itself_is_one() -> None:
    generator = torch.Generator().manual_seed(1)
    bank, labels = torch.randn(50, 16, generator=generator), torch.randint(0, 4, (50,), generator=generator)
    assert knn_top1(bank, labels, bank, labels, 4, k=1, backend="torch") == 1.0


@pytest.mark.parametrize("temperature", [0.0, -0.1, float("nan"), float("inf")])
def test_invalid_temperature_raises(temperature: float) -> None:
    bank, labels = _golden_bank()
    with pytest.raises(ValueError, match="temperature"):
        knn_predict(bank, labels, bank, 3, temperature=temperature, backend="torch")


def test_invalid_k_and_backend_raise() -> None:
    bank, labels = _golden_bank()
    with pytest.raises(ValueError, match="k must"):
        knn_predict(bank, labels, bank, 3, k=0, backend="torch")
    with pytest.raises(ValueError, match="backend"):
        knn_neighbors(bank, bank, k=1, backend="annoy")
