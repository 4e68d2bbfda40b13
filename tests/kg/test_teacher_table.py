"""The tabulated frozen teacher gives DualDE the same targets as running the teacher."""

from __future__ import annotations

import pytest
import torch

from ssl_kd.kg.domain import TripleBatch
from ssl_kd.kg.methods.dualde import kg_scores
from ssl_kd.kg.models import build_kge
from ssl_kd.kg.negatives import corrupt
from ssl_kd.kg.teacher_table import TeacherTable, table_bytes
from ssl_kd.losses.dualde import DualDELoss


@pytest.mark.parametrize("arch", ["transe", "rotate", "complex"])
def test_table_lookups_equal_the_teachers_own_scores_and_structure(arch: str) -> None:
    torch.manual_seed(0)
    teacher = build_kge(arch, num_entities=11, num_relations=4, dim=6).eval()
    train = torch.stack([torch.randint(0, 11, (40,)), torch.randint(0, 4, (40,)), torch.randint(0, 11, (40,))], 1)
    table = TeacherTable(teacher, train, complex_parts=arch == "complex", batch_size=16)
    ids = torch.tensor([3, 0, 39, 17])
    negatives, corrupt_head = corrupt(train[ids], 5, 11, torch.Generator().manual_seed(1))
    batch = TripleBatch(train[ids], negatives, corrupt_head)
    looked_up = table.scores(ids, *batch)
    with torch.no_grad():
        direct = kg_scores(teacher, batch)
    torch.testing.assert_close(looked_up.pos, direct.pos, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(looked_up.neg, direct.neg, rtol=1e-5, atol=1e-5)
    loss = DualDELoss(complex_parts=arch == "complex")
    student = kg_scores(build_kge(arch, num_entities=11, num_relations=4, dim=2), batch)
    for name, value in loss(student, looked_up).items():
        torch.testing.assert_close(value, loss(student, direct)[name], rtol=1e-5, atol=1e-6)


def test_table_size_counts_both_sides_and_the_entity_pairs() -> None:
    assert table_bytes(5216, 135) == 4 * (2 * 5216 * 135 + 2 * 135 * 135)
