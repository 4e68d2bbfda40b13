"""Deep mutual learning: joint update of the peers, peer 0 as output, a tiny pipeline run."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from kd_helpers import TINY_CNN, batch, build_method, fit_fixed_batch, run_tiny

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


def test_config_needs_two_peers_and_offers_only_joint_updates() -> None:
    with pytest.raises(pydantic.ValidationError, match="at least 2"):
        DMLConfig(name="d", peers=[TINY_CNN])
    with pytest.raises(pydantic.ValidationError, match="joint"):
        DMLConfig(name="d", peers=[TINY_CNN, TINY_CNN], update="alternating")
    assert DMLConfig(name="d", peers=[{"from": "a"}, TINY_CNN]).references() == {"peers[0]": "a"}


def test_runs_in_a_tiny_pipeline(tmp_path: Path) -> None:
    results = run_tiny(tmp_path, [{"name": "dml", "method": "dml", "peers": [TINY_CNN, TINY_CNN]}])
    assert 0.0 <= results["dml"]["test_top1"] <= 1.0
