"""Filtered rank-based evaluation: hand-made score tables, ties, chunking, and equality with pykeen's evaluator."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from ssl_kd.evaluation.ranking import RankingResult, evaluate_ranking, realistic_ranks
from ssl_kd.kg import RotatE, TransE, all_true_triples, load_bundled_kg


class TableScorer(nn.Module):
    """Scores from tables: tails[h, r, e] = score of (h, r, e); heads[r, t, e] = score of (e, r, t)."""

    def __init__(self, tails: Tensor, heads: Tensor) -> None:
        super().__init__()
        self.tails, self.heads = tails, heads
        self.calls: list[tuple[int, int]] = []

    def score_tails(self, h: Tensor, r: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        self.calls.append((start, end))
        return self.tails[h, r, start:end]

    def score_heads(self, r: Tensor, t: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        return self.heads[r, t, start:end]


def test_realistic_ranks_primitive() -> None:
    scores = torch.tensor([[0.9, 0.5, 0.7, 0.1], [0.9, 0.5, 0.7, 0.1], [1.0, 1.0, 1.0, 1.0], [0.2, 1.0, 1.0, 0.3]])
    true_index = torch.tensor([1, 1, 0, 3])
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[1, 0] = True  # filtering removes a better true entity
    mask[3, 1] = True  # one of two better ties filtered
    mask[2, 0] = True  # the target itself is never filtered
    ranks = realistic_ranks(scores, true_index, mask)
    assert ranks.dtype == torch.float64
    # row 0: 0.9, 0.7 better -> 3; row 1: 0.9 filtered -> 2; row 2: 3 others tied, none better -> (1 + 4) / 2 = 2.5;
    # row 3: 1.0 (col 2) better, col 1 filtered -> 2
    assert ranks.tolist() == [3.0, 2.0, 2.5, 2.0]


def toy_tables() -> tuple[Tensor, Tensor]:
    """4 entities, 1 relation; tails[0, 0] and heads[0, 1] are the rows the test triple (0, 0, 1) asks."""
    tails = torch.zeros(4, 1, 4)
    heads = torch.zeros(1, 4, 4)
    tails[0, 0] = torch.tensor([0.3, 0.5, 0.9, 0.7])  # (0, 0, ?): entity 2 (a known true tail) and 3 score higher
    heads[0, 1] = torch.tensor([0.4, 0.4, 0.4, 0.4])  # (?, 0, 1): all four tied
    return tails, heads


def test_filtered_both_sides_by_hand() -> None:
    tails, heads = toy_tables()
    test = torch.tensor([[0, 0, 1]])
    known = torch.tensor([[0, 0, 2], [1, 0, 1], [0, 0, 1], [3, 0, 3]])  # (0,0,2): other true tail; (1,0,1): other head
    result = evaluate_ranking(TableScorer(tails, heads), test, known, num_entities=4)
    assert result.tail_ranks.tolist() == [2.0]  # entity 2 filtered, entity 3 still better
    assert result.head_ranks.tolist() == [2.0]  # entity 1 filtered: 2 others tied -> (1 + 3) / 2
    raw = evaluate_ranking(TableScorer(tails, heads), test, None, num_entities=4)
    assert raw.tail_ranks.tolist() == [3.0]
    assert raw.head_ranks.tolist() == [2.5]  # 3 candidates tied with the target, nothing better


def test_metrics_keys_and_values() -> None:
    result = RankingResult(head_ranks=torch.tensor([1.0, 4.0]), tail_ranks=torch.tensor([2.0, 12.0]))
    metrics = result.metrics()
    assert metrics["mrr"] == pytest.approx((1 + 1 / 4 + 1 / 2 + 1 / 12) / 4)
    assert metrics["mr"] == pytest.approx(19 / 4)
    assert metrics["hits_at_1"] == 0.25 and metrics["hits_at_3"] == 0.5 and metrics["hits_at_10"] == 0.75
    assert metrics["tail_mrr"] == pytest.approx((1 / 2 + 1 / 12) / 2) and metrics["tail_hits_at_10"] == 0.5
    assert metrics["head_mr"] == 2.5 and metrics["head_hits_at_1"] == 0.5 and metrics["head_hits_at_10"] == 1.0
    assert set(result.metrics(ks=(5,))) == {
        f"{p}{k}" for p in ("", "tail_", "head_") for k in ("mrr", "mr", "hits_at_5")
    }


def random_tables(num_entities: int, num_relations: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = (num_entities, num_relations, num_entities)
    tails = torch.randint(0, 4, shape, generator=generator).float()  # few distinct values: many ties
    heads = torch.randint(0, 4, (num_relations, num_entities, num_entities), generator=generator).float()
    return tails, heads


def test_chunking_and_batching_give_identical_ranks() -> None:
    tails, heads = random_tables(7, 2, seed=0)
    generator = torch.Generator().manual_seed(1)
    known = torch.stack(
        [
            torch.randint(7, (30,), generator=generator),
            torch.randint(2, (30,), generator=generator),
            torch.randint(7, (30,), generator=generator),
        ],
        dim=1,
    )
    test = known[:12]
    reference = None
    for entity_chunk in (1, 3, 7, 100):
        for batch_size in (1, 5, 256):
            scorer = TableScorer(tails, heads)
            result = evaluate_ranking(scorer, test, known, 7, batch_size=batch_size, entity_chunk=entity_chunk)
            assert all(end - start <= entity_chunk for start, end in scorer.calls)
            if reference is None:
                reference = result
            assert torch.equal(result.tail_ranks, reference.tail_ranks)
            assert torch.equal(result.head_ranks, reference.head_ranks)
    # and equal to the primitive on the full tables with a dense filter mask
    true = set(map(tuple, known.tolist()))
    tail_mask = torch.tensor([[(h, r, e) in true for e in range(7)] for h, r, _ in test.tolist()])
    head_mask = torch.tensor([[(e, r, t) in true for e in range(7)] for _, r, t in test.tolist()])
    expected_tails = realistic_ranks(tails[test[:, 0], test[:, 1]], test[:, 2], tail_mask)
    expected_heads = realistic_ranks(heads[test[:, 1], test[:, 2]], test[:, 0], head_mask)
    assert torch.equal(reference.tail_ranks, expected_tails)
    assert torch.equal(reference.head_ranks, expected_heads)
    assert (reference.tail_ranks % 0.5 == 0).all() and (reference.tail_ranks != reference.tail_ranks.round()).any()


def test_model_is_put_in_eval_mode_and_restored() -> None:
    model = TransE(5, 2, 3)
    seen = []
    original = model.score_tails

    def spy(*args: object) -> Tensor:
        seen.append((model.training, torch.is_inference_mode_enabled()))
        return original(*args)

    model.score_tails = spy  # type: ignore[method-assign]
    model.train()
    result = evaluate_ranking(model, torch.tensor([[0, 1, 2], [3, 0, 4]]), None, 5)
    assert seen == [(False, True)] and model.training
    assert result.tail_ranks.shape == result.head_ranks.shape == (2,)
    assert ((result.tail_ranks >= 1) & (result.tail_ranks <= 5)).all()


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="outside"):
        evaluate_ranking(TransE(5, 1, 2), torch.tensor([[0, 0, 5]]), None, 5)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        evaluate_ranking(TransE(5, 1, 2), torch.tensor([[0, 0]]), None, 5)


# --- equality with pykeen's RankBasedEvaluator ----------------------------------------------------------------------


def interleave(weight: Tensor) -> Tensor:
    re, im = weight.chunk(2, dim=-1)
    return torch.stack([re, im], dim=-1).reshape(len(weight), -1)


@pytest.mark.parametrize("arch", ["transe", "rotate"])
def test_equals_pykeen_rank_based_evaluator(arch: str) -> None:
    datasets = pytest.importorskip("pykeen.datasets")
    pm = pytest.importorskip("pykeen.models")
    evaluation = pytest.importorskip("pykeen.evaluation")
    dataset = datasets.Nations()
    kg = load_bundled_kg("nations")
    torch.manual_seed(0)
    if arch == "transe":
        ours = TransE(kg.num_entities, kg.num_relations, 8, gamma=2.0, p=1)
        theirs = pm.TransE(triples_factory=dataset.training, embedding_dim=8, scoring_fct_norm=1, random_seed=0)
        theirs.entity_representations[0]._embeddings.weight.data.copy_(ours.entity.weight.data)
        theirs.relation_representations[0]._embeddings.weight.data.copy_(ours.relation.weight.data)
    else:  # pykeen's RotatE uses the L2 norm over the complex vector
        ours = RotatE(kg.num_entities, kg.num_relations, 8, gamma=2.0, p=2)
        theirs = pm.RotatE(triples_factory=dataset.training, embedding_dim=8, random_seed=0)
        theirs.entity_representations[0]._embeddings.weight.data.copy_(interleave(ours.entity.weight.data))
        theta = ours.phases(ours.relation.weight.data)
        relation = torch.stack([theta.cos(), theta.sin()], dim=-1).reshape(kg.num_relations, -1)
        theirs.relation_representations[0]._embeddings.weight.data.copy_(relation)
    reference = evaluation.RankBasedEvaluator().evaluate(
        theirs,
        dataset.testing.mapped_triples,
        additional_filter_triples=[dataset.training.mapped_triples, dataset.validation.mapped_triples],
        batch_size=256,
        use_tqdm=False,
    )
    for entity_chunk in (kg.num_entities, 5):
        metrics = evaluate_ranking(
            ours, kg.test, all_true_triples(kg), kg.num_entities, entity_chunk=entity_chunk
        ).metrics()
        for side, prefix in (("both", ""), ("tail", "tail_"), ("head", "head_")):
            expected = {
                "mrr": reference.get_metric(f"{side}.realistic.inverse_harmonic_mean_rank"),
                "mr": reference.get_metric(f"{side}.realistic.arithmetic_mean_rank"),
                **{f"hits_at_{k}": reference.get_metric(f"{side}.realistic.hits_at_{k}") for k in (1, 3, 10)},
            }
            for key, value in expected.items():
                assert metrics[prefix + key] == pytest.approx(value, abs=1e-6), (side, key)
