"""Self-adversarial negative sampling loss: hand-computed 2x3 values, detached weights, equality with pykeen."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses.self_adversarial import SelfAdversarialLoss

POSITIVE = [2.0, -1.0]
NEGATIVE = [[0.0, 1.0, -2.0], [3.0, 3.0, 0.0]]


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def hand_loss(alpha: float | None) -> list[float]:
    losses = []
    for pos, negs in zip(POSITIVE, NEGATIVE, strict=True):
        if alpha is None:
            weights = [1 / 3] * 3
        else:
            exps = [math.exp(alpha * n) for n in negs]
            weights = [e / sum(exps) for e in exps]
        losses.append(-log_sigmoid(pos) - sum(w * log_sigmoid(-n) for w, n in zip(weights, negs, strict=True)))
    return losses


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_hand_computed_2x3(alpha: float) -> None:
    positive, negative = torch.tensor(POSITIVE), torch.tensor(NEGATIVE)
    expected = hand_loss(alpha)
    per_positive = SelfAdversarialLoss(alpha, reduction="none")(positive, negative)
    assert per_positive.tolist() == pytest.approx(expected, rel=1e-6)
    assert SelfAdversarialLoss(alpha)(positive, negative).item() == pytest.approx(sum(expected) / 2, rel=1e-6)


def test_uniform_weights() -> None:
    loss = SelfAdversarialLoss(adversarial=False, reduction="none")(torch.tensor(POSITIVE), torch.tensor(NEGATIVE))
    assert loss.tolist() == pytest.approx(hand_loss(None), rel=1e-6)


def test_terms_sum_to_the_loss_and_hold_the_weighted_negatives() -> None:
    loss = SelfAdversarialLoss(1.0)
    positive, negative = torch.tensor(POSITIVE), torch.tensor(NEGATIVE)
    pos_term, neg_terms = loss.terms(positive, negative)
    assert pos_term.shape == (2,) and neg_terms.shape == (2, 3)
    # row 2: weights softmax(3, 3, 0) = (e^3, e^3, 1) / (2 e^3 + 1); term = -p log σ(-3)
    p = math.exp(3) / (2 * math.exp(3) + 1)
    assert neg_terms[1, 0].item() == pytest.approx(-p * log_sigmoid(-3.0), rel=1e-6)
    assert pos_term[0].item() == pytest.approx(-log_sigmoid(2.0), rel=1e-6)
    torch.testing.assert_close(pos_term + neg_terms.sum(1), SelfAdversarialLoss(reduction="none")(positive, negative))


def test_gradient_does_not_flow_through_the_weights() -> None:
    positive = torch.tensor(POSITIVE, requires_grad=True)
    negative = torch.tensor(NEGATIVE, requires_grad=True)
    SelfAdversarialLoss(1.0, reduction="none")(positive, negative).sum().backward()
    # d/dn [-p log σ(-n)] with p constant = p σ(n); d/dpos [-log σ(pos)] = -σ(-pos)
    weights = torch.softmax(torch.tensor(NEGATIVE), dim=1)
    torch.testing.assert_close(negative.grad, weights * torch.sigmoid(torch.tensor(NEGATIVE)))
    torch.testing.assert_close(positive.grad, -torch.sigmoid(-torch.tensor(POSITIVE)))


def test_equals_twice_pykeen_nssa() -> None:
    losses = pytest.importorskip("pykeen.losses")
    torch.manual_seed(0)
    positive, negative = 3 * torch.randn(8), 3 * torch.randn(8, 5)
    for alpha in (1.0, 0.5):
        theirs = losses.NSSALoss(margin=0.0, adversarial_temperature=alpha)
        ours = SelfAdversarialLoss(alpha)(positive, negative)
        # pykeen's 0.5 * (mean positive part + mean negative part), as the RotatE code's (pos + neg) / 2
        reference = theirs.process_slcwa_scores(positive_scores=positive, negative_scores=negative)
        torch.testing.assert_close(ours, 2 * reference)
        # pykeen scores without gamma (its RotatE returns -d): margin = gamma gives the same loss
        gamma = 6.0
        shifted = losses.NSSALoss(margin=gamma, adversarial_temperature=alpha).process_slcwa_scores(
            positive_scores=positive - gamma, negative_scores=negative - gamma
        )
        torch.testing.assert_close(ours, 2 * shifted)


def test_bad_shapes_and_arguments() -> None:
    with pytest.raises(ValueError, match=r"positive \(B,\) and negative \(B, K\)"):
        SelfAdversarialLoss()(torch.zeros(2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="reduction"):
        SelfAdversarialLoss(reduction="sum")
