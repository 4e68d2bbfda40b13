"""Teacher outputs: inference-mode forward usable as a target, and the per-sample on-disk cache."""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_kd.blocks.teacher_outputs import TeacherCache, frozen_forward


class CountingTeacher(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.linear(x)


def test_frozen_forward_is_a_constant_target_in_an_autograd_graph() -> None:
    teacher, student = CountingTeacher(), torch.nn.Linear(4, 3)
    x = torch.randn(5, 4)
    target = frozen_forward(teacher, x)
    assert not target.requires_grad and not target.is_inference()
    loss = torch.nn.functional.kl_div(student(x).log_softmax(1), target.softmax(1), reduction="batchmean")
    loss.backward()  # an inference tensor saved for backward would raise here
    assert student.weight.grad is not None and teacher.linear.weight.grad is None


def test_cache_runs_the_teacher_once_per_sample_and_survives_reopening(tmp_path: Path) -> None:
    teacher = CountingTeacher()
    data = torch.randn(6, 4)
    cache = TeacherCache(tmp_path, num_samples=6, width=3)
    first = cache(teacher, data[[0, 1, 2]], torch.tensor([0, 1, 2]))
    cache(teacher, data[[3, 4, 5]], torch.tensor([3, 4, 5]))
    assert teacher.calls == 2 and cache.complete()
    again = cache(teacher, data[[2, 0, 1]], torch.tensor([2, 0, 1]))
    assert teacher.calls == 2  # served from the cache
    torch.testing.assert_close(again, first[[2, 0, 1]])
    reopened = TeacherCache(tmp_path, num_samples=6, width=3)
    torch.testing.assert_close(reopened(teacher, data[[5]], torch.tensor([5])), teacher.linear(data[[5]]).detach())
    assert teacher.calls == 2


def test_a_partly_new_batch_runs_the_teacher(tmp_path: Path) -> None:
    teacher = CountingTeacher()
    cache = TeacherCache(tmp_path, num_samples=4, width=3)
    cache(teacher, torch.randn(2, 4), torch.tensor([0, 1]))
    cache(teacher, torch.randn(2, 4), torch.tensor([1, 2]))
    assert teacher.calls == 2 and not cache.complete()


def test_frozen_forward_clones_nested_outputs() -> None:
    from ssl_kd.models import build_model

    vit = build_model("vit", 10, dim=16, depth=2, heads=2, patch_size=8).eval()
    x = torch.randn(2, 3, 32, 32)
    taps = frozen_forward(vit.forward_taps, x, ["block1", "logits"])
    attention = frozen_forward(vit.forward_attention, x)
    tensors = [*taps.values(), attention.logits, *attention.scores, *attention.cls]
    assert all(not t.is_inference() for t in tensors)
    torch.testing.assert_close(taps["logits"], vit(x).detach())
