"""ReKD's relation miner: prototype and top-k positives, prototype EMA, spherical k-means."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ssl_kd.blocks.relation_miner import kmeans, prototype_ema, prototype_positives, topk_positives


def test_prototype_positives_follow_nearest_prototype() -> None:
    prototypes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    batch = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    queue = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.3]])
    positives = prototype_positives(batch, queue, prototypes)
    assert positives.tolist() == [[True, True, False, True], [True, False, True, False]]


def test_topk_positives_pick_most_similar_queue_slots() -> None:
    batch = torch.tensor([[1.0, 0.0]])
    queue = F.normalize(torch.tensor([[0.0, 1.0], [1.0, 0.1], [1.0, 0.5]]), dim=1)
    assert topk_positives(batch, queue, 2).tolist() == [[True, False, True, True]]


def test_prototype_ema_moves_only_assigned_prototypes() -> None:
    prototypes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    members = torch.tensor([[0.6, 0.8]])  # nearest to prototype 1
    updated = prototype_ema(prototypes, members, momentum=0.5)
    assert torch.equal(updated[0], prototypes[0])
    torch.testing.assert_close(updated[1], F.normalize(torch.tensor([0.3, 0.9]), dim=0))


def test_kmeans_recovers_two_clusters() -> None:
    torch.manual_seed(0)
    points = F.normalize(
        torch.cat(
            [torch.randn(20, 2) * 0.05 + torch.tensor([1.0, 0.0]), torch.randn(20, 2) * 0.05 + torch.tensor([0.0, 1.0])]
        ),
        dim=1,
    )
    centroids = kmeans(points, F.normalize(torch.tensor([[1.0, 1.0], [1.0, 0.9]]), dim=1))
    assert sorted(centroids.argmax(dim=1).tolist()) == [0, 1]
