"""The MoCo queue (FIFO, shared pointer), momentum update and shuffled keys."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssl_kd.blocks.memory import KeyQueue, momentum_copy, momentum_update, shuffled_keys


def _keys(*values: float) -> torch.Tensor:
    return torch.tensor([[v, -v] for v in values])


def test_queue_is_fifo_with_wrapping_pointer() -> None:
    queue = KeyQueue(5, {"student": 2, "teacher": 2})
    for batch in ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0)):
        queue.enqueue(student=_keys(*batch), teacher=_keys(*batch) * 10)
    # slots: 0,1 <- 1,2; 2,3 <- 3,4; then 4,0 <- 5,6 (the oldest key, 1, is replaced first)
    assert queue.bank("student")[:, 0].tolist() == [6.0, 2.0, 3.0, 4.0, 5.0]
    assert queue.bank("teacher")[:, 0].tolist() == [60.0, 20.0, 30.0, 40.0, 50.0]
    assert int(queue.pointer) == 1


def test_queue_banks_start_as_unit_vectors_and_need_all_keys() -> None:
    queue = KeyQueue(8, {"a": 4, "b": 3})
    assert torch.allclose(queue.bank("a").norm(dim=1), torch.ones(8))
    with pytest.raises(ValueError, match="keys for"):
        queue.enqueue(a=torch.zeros(2, 4))


def test_enqueue_does_not_disturb_a_pending_backward() -> None:
    queue = KeyQueue(4, {"k": 3})
    query = torch.randn(2, 3, requires_grad=True)
    loss = (query @ queue.bank("k").T).sum()
    queue.enqueue(k=torch.ones(2, 3))
    loss.backward()
    assert query.grad is not None


def test_momentum_update_is_an_ema_of_parameters() -> None:
    online = nn.Linear(3, 2)
    target = momentum_copy(online)
    assert not any(p.requires_grad for p in target.parameters())
    before = target.weight.clone()
    with torch.no_grad():
        online.weight.add_(1.0)
    momentum_update(target, online, momentum=0.9)
    torch.testing.assert_close(target.weight, 0.9 * before + 0.1 * online.weight)


def test_shuffled_keys_match_a_plain_forward_without_batch_statistics() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4)).eval()
    images = torch.randn(12, 6)
    torch.testing.assert_close(shuffled_keys(encoder, images, 3), encoder(images))
    encoder.train()
    assert not torch.allclose(shuffled_keys(encoder, images, 3), encoder(images))
