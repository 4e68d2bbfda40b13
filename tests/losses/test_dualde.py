"""DualDE losses against values written out by hand with ``math``; gradients reach the learner only."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_kd.losses.dualde import DualDELoss, KGScores, SoftLabelWeight, structure


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _huber(a: float, b: float, delta: float = 1.0) -> float:
    d = abs(a - b)
    return 0.5 * d * d if d <= delta else delta * (d - 0.5 * delta)


def _cos(u: list[float], v: list[float]) -> float:
    return sum(x * y for x, y in zip(u, v, strict=True)) / (math.hypot(*u) * math.hypot(*v))


def _ratio(u: list[float], v: list[float]) -> float:
    return math.hypot(*u) / math.hypot(*v)


# Two positives, two negatives each, D = 2.
S_POS = [0.5, -1.0]
S_NEG = [[-0.5, 1.0], [0.0, -2.0]]
T_POS = [2.0, -0.5]
T_NEG = [[-1.0, 1.5], [0.5, -3.0]]
S_HP = [[1.0, 0.0], [0.0, 2.0]]
S_TP = [[1.0, 1.0], [1.0, 0.0]]
S_HN = [[[2.0, 0.0], [1.0, -1.0]], [[0.5, 0.5], [3.0, 1.0]]]
S_TN = [[[1.0, 2.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]]
T_HP = [[2.0, 1.0], [1.0, 1.0]]
T_TP = [[0.0, 1.0], [2.0, 0.0]]
T_HN = [[[1.0, 0.0], [0.0, 3.0]], [[1.0, 2.0], [1.0, 0.0]]]
T_TN = [[[1.0, 1.0], [1.0, 0.0]], [[2.0, 2.0], [0.0, 1.0]]]


def _scores(pos, neg, hp, tp, hn, tn, grad: bool = False) -> KGScores:
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=grad) for x in (pos, neg, hp, tp, hn, tn)]
    return KGScores(*tensors)


def _student(grad: bool = True) -> KGScores:
    return _scores(S_POS, S_NEG, S_HP, S_TP, S_HN, S_TN, grad)


def _teacher(grad: bool = True) -> KGScores:
    return _scores(T_POS, T_NEG, T_HP, T_TP, T_HN, T_TN, grad)


def _soft(fs, ft, hs, ts, ht, tt, transform, lam=(1.0, 1.0, 1.0)) -> float:
    return (
        lam[0] * _huber(transform(ft), transform(fs))
        + lam[1] * _huber(_cos(ht, tt), _cos(hs, ts))
        + lam[2] * _huber(_ratio(ht, tt), _ratio(hs, ts))
    )


def _expected(transform=_sig, w_pos=None, w_neg=None, lam=(1.0, 1.0, 1.0)) -> tuple[float, float]:
    """Hand formula of DualDELoss with a = 1, b = 0 (or given constant weights), alpha = 1."""
    soft, hard = 0.0, 0.0
    for i in range(2):
        wp = _sig(T_POS[i]) if w_pos is None else w_pos
        soft += wp * _soft(S_POS[i], T_POS[i], S_HP[i], S_TP[i], T_HP[i], T_TP[i], transform, lam)
        hard += (1 - wp) * -math.log(_sig(S_POS[i]))
        z = sum(math.exp(f) for f in S_NEG[i])
        for j in range(2):
            wn = _sig(-T_NEG[i][j]) if w_neg is None else w_neg
            p = math.exp(S_NEG[i][j]) / z
            soft += (
                wn * _soft(S_NEG[i][j], T_NEG[i][j], S_HN[i][j], S_TN[i][j], T_HN[i][j], T_TN[i][j], transform, lam) / 2
            )
            hard += (1 - wn) * -p * math.log(_sig(-S_NEG[i][j]))
    return soft / 2, hard / 2


def test_soft_weights_at_init_are_sigmoids_of_the_source_scores() -> None:
    w_pos, w_neg = SoftLabelWeight()(torch.tensor(T_POS), torch.tensor(T_NEG))
    assert w_pos.tolist() == pytest.approx([_sig(2.0), _sig(-0.5)], rel=1e-6)
    # negatives: a confidently negative triple (low score) gets a high soft weight
    assert w_neg.tolist()[0] == pytest.approx([_sig(1.0), _sig(-1.5)], rel=1e-6)
    assert w_neg.tolist()[1] == pytest.approx([_sig(-0.5), _sig(3.0)], rel=1e-6)


def test_learnable_weight_uses_a_and_b() -> None:
    weight = SoftLabelWeight()
    with torch.no_grad():
        weight.a_pos.fill_(2.0)
        weight.b_pos.fill_(-1.0)
        weight.a_neg.fill_(0.5)
        weight.b_neg.fill_(1.0)
    w_pos, w_neg = weight(torch.tensor([3.0]), torch.tensor([[1.0]]))
    assert w_pos.item() == pytest.approx(_sig(2.0 * (3.0 - 1.0)), rel=1e-6)
    assert w_neg.item() == pytest.approx(_sig(-0.5 * (1.0 + 1.0)), rel=1e-6)


def test_structure_terms_by_hand() -> None:
    cos, ratio = structure(torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]]))
    assert cos.item() == pytest.approx(24.0 / 25.0, rel=1e-6)
    assert ratio.item() == pytest.approx(1.0, rel=1e-6)
    cos, ratio = structure(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0]))
    assert cos.item() == pytest.approx(0.0, abs=1e-7)
    assert ratio.item() == pytest.approx(0.5, rel=1e-6)


def test_structure_complex_parts_average_real_and_imaginary() -> None:
    # re: h = (1, 0), t = (1, 1)  -> cos 1/sqrt2, ratio 1/sqrt2;  im: h = (0, 2), t = (0, 1) -> cos 1, ratio 2
    h = torch.tensor([1.0, 0.0, 0.0, 2.0])
    t = torch.tensor([1.0, 1.0, 0.0, 1.0])
    cos, ratio = structure(h, t, complex_parts=True)
    assert cos.item() == pytest.approx((1 / math.sqrt(2) + 1.0) / 2, rel=1e-6)
    assert ratio.item() == pytest.approx((1 / math.sqrt(2) + 2.0) / 2, rel=1e-6)
    whole_cos, _ = structure(h, t)
    assert whole_cos.item() != pytest.approx(cos.item())
    with pytest.raises(ValueError, match="even"):
        structure(torch.ones(3), torch.ones(3), complex_parts=True)


def test_loss_terms_by_hand_sigmoid() -> None:
    terms = DualDELoss()(_student(), _teacher())
    soft, hard = _expected(_sig)
    assert sorted(terms) == ["hard", "soft"]
    assert terms["soft"].item() == pytest.approx(soft, rel=1e-9)
    assert terms["hard"].item() == pytest.approx(hard, rel=1e-9)


def test_loss_terms_by_hand_raw_scores_differ_from_sigmoid() -> None:
    raw = DualDELoss(score_transform="raw")(_student(), _teacher())
    sig = DualDELoss(score_transform="sigmoid")(_student(), _teacher())
    soft, hard = _expected(lambda x: x)
    assert raw["soft"].item() == pytest.approx(soft, rel=1e-9)
    assert raw["hard"].item() == pytest.approx(hard, rel=1e-9)
    assert raw["hard"].item() == pytest.approx(sig["hard"].item(), rel=1e-12)  # only the soft score term changes
    assert raw["soft"].item() > sig["soft"].item() + 0.1  # raw gaps are larger (several beyond delta = 1)


def test_individual_soft_term_weights() -> None:
    lam = (2.0, 0.0, 0.5)
    terms = DualDELoss(score_weight=lam[0], cosine_weight=lam[1], norm_weight=lam[2])(_student(), _teacher())
    soft, _ = _expected(_sig, lam=lam)
    assert terms["soft"].item() == pytest.approx(soft, rel=1e-9)


def test_constant_weight_mode_has_no_parameters() -> None:
    loss = DualDELoss(soft_weight="constant", soft_weight_value=0.25)
    assert list(loss.parameters()) == []
    terms = loss(_student(), _teacher())
    soft, hard = _expected(_sig, w_pos=0.25, w_neg=0.25)
    assert terms["soft"].item() == pytest.approx(soft, rel=1e-9)
    assert terms["hard"].item() == pytest.approx(hard, rel=1e-9)
    with pytest.raises(ValueError, match="soft_weight_value"):
        SoftLabelWeight("constant", 1.5)


def test_gradients_reach_learner_and_weights_not_target() -> None:
    student, teacher = _student(), _teacher()
    loss = DualDELoss()
    sum(loss(student, teacher).values()).backward()
    for name in ("pos", "neg", "head_pos", "tail_pos", "head_neg", "tail_neg"):
        grad = getattr(student, name).grad
        assert grad is not None and grad.abs().sum() > 0, name
        assert getattr(teacher, name).grad is None, name
    for p in (loss.weight.a_pos, loss.weight.b_pos, loss.weight.a_neg, loss.weight.b_neg):
        assert p.grad is not None and p.grad.abs() > 0


def test_gradient_of_hard_positive_by_hand() -> None:
    # d/df [(1 - w) * -log σ(f)] / B = -(1 - w) (1 - σ(f)) / B for the first positive (weights fixed)
    student = _student()
    DualDELoss(soft_weight="constant", soft_weight_value=0.25)(student, _teacher())["hard"].backward()
    assert student.pos.grad[0].item() == pytest.approx(-(0.75) * (1 - _sig(0.5)) / 2, rel=1e-9)


def test_roles_swapped_for_the_teacher_use_student_scores_for_weights() -> None:
    student, teacher = _student(), _teacher()
    teacher_loss = DualDELoss(soft_weight="learnable")
    terms = teacher_loss(teacher, student)
    w_pos, _ = teacher_loss.weight(student.pos, student.neg)
    assert w_pos.tolist() == pytest.approx([_sig(0.5), _sig(-1.0)])
    expected_hard_pos = sum((1 - _sig(S_POS[i])) * -math.log(_sig(T_POS[i])) for i in range(2)) / 2
    neg_part = terms["hard"].item() - expected_hard_pos
    sum(terms.values()).backward()
    assert teacher.pos.grad is not None and student.pos.grad is None
    assert neg_part > 0


def test_shape_errors() -> None:
    s = _student()
    with pytest.raises(ValueError, match="KGScores"):
        KGScores(s.pos, s.pos, s.head_pos, s.tail_pos, s.head_neg, s.tail_neg)
    other = KGScores(s.pos, s.neg[:, :1], s.head_pos, s.tail_pos, s.head_neg[:, :1], s.tail_neg[:, :1])
    with pytest.raises(ValueError, match="same"):
        DualDELoss()(s, other)
