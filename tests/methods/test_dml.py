"""Deep mutual learning: joint and alternating updates, peer 0 as output, a tiny pipeline run."""

from __future__ import annotations

import copy
from pathlib import Path

import pydantic
import pytest
import torch
from kd_helpers import TINY_CNN, batch, build_method, fit_fixed_batch, run_tiny

from ssl_kd.losses.soft_target import SoftTargetKL
from ssl_kd.methods.dml import DMLConfig


def test_loss_decreases_and_peer_zero_is_the_output() -> None:
    method = build_method({"method": "dml", "peers": [TINY_CNN, TINY_CNN]})
    losses = fit_fixed_batch(method)
    assert losses[-1] < losses[0]
    assert method.output_model() is method.peers[0]


def test_every_peer_gets_gradient_from_its_own_terms() -> None:
    method = build_method({"method": "dml", "peers": [TINY_CNN, TINY_CNN, TINY_CNN], "tau": 2.0})
    terms = method.training_step(*batch())
    assert sorted(terms) == ["ce_0", "ce_1", "ce_2", "kd_0", "kd_1", "kd_2"]
    terms["kd_1"].backward()
    grads = [any(p.grad is not None for p in peer.parameters()) for peer in method.peers]
    assert grads == [False, True, False]


def test_config_needs_two_peers_and_knows_the_update_modes() -> None:
    with pytest.raises(pydantic.ValidationError, match="at least 2"):
        DMLConfig(name="d", peers=[TINY_CNN])
    with pytest.raises(pydantic.ValidationError, match="alternating"):
        DMLConfig(name="d", peers=[TINY_CNN, TINY_CNN], update="sequential")
    assert DMLConfig(name="d", peers=[{"from": "a"}, TINY_CNN]).references() == {"peers[0]": "a"}


def test_alternating_update_moves_one_peer_per_phase_against_the_updated_peers() -> None:
    method = build_method({"method": "dml", "peers": [TINY_CNN, TINY_CNN], "update": "alternating", "tau": 2.0})
    assert method.update_phases == 2 and method.find_unused_parameters
    method.eval()  # no dropout / batch statistics: outputs are a function of the weights
    images, labels = batch()
    optimizer = torch.optim.SGD([p for _, p in method.trainable_named_parameters()], lr=0.5)
    before = [copy.deepcopy(peer) for peer in method.peers]
    terms = method.phase_step(0, images, labels)
    assert sorted(terms) == ["ce_0", "kd_0"]
    optimizer.zero_grad(set_to_none=True)
    sum(terms.values()).backward()
    assert [any(p.grad is not None for p in peer.parameters()) for peer in method.peers] == [True, False]
    optimizer.step()
    assert torch.equal(method._targets[1], before[1](images))  # peer 0 learnt from the not yet updated peer 1
    terms = method.phase_step(1, images, labels)
    optimizer.zero_grad(set_to_none=True)
    sum(terms.values()).backward()
    assert [any(p.grad is not None for p in peer.parameters()) for peer in method.peers] == [False, True]
    updated_peer0 = method.peers[0](images).detach()
    assert not torch.allclose(updated_peer0, before[0](images))
    expected_kd = SoftTargetKL(2.0)(method.peers[1](images), updated_peer0)
    assert torch.allclose(terms["kd_1"], expected_kd, atol=1e-6)  # peer 1 learnt from the updated peer 0
    assert method._targets == []


@pytest.mark.parametrize("update", ["joint", "alternating"])
def test_runs_in_a_tiny_pipeline(tmp_path: Path, update: str) -> None:
    stage = {"name": "dml", "method": "dml", "peers": [TINY_CNN, TINY_CNN], "update": update}
    results = run_tiny(tmp_path, [stage])
    assert 0.0 <= results["dml"]["test_top1"] <= 1.0
