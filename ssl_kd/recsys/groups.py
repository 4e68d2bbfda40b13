"""HTD's learned group machinery: the group assigner v and the per-group projectors f_k (docs/methods/htd.md).

As in the topology-distillation code (``model.py``, class ``HTD``): v = Linear(d_T → K) + softmax on the teacher's
embedding of an entity; f_k = Linear(d_S → (d_T + d_S) // 2) → ReLU → Linear(→ d_T), one per group, for users and
items separately. The K projectors are held as stacked weights and applied at once.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GroupAssigner(nn.Module):
    """v(t) = softmax(W t + b): each entity's probabilities over ``num_groups`` groups, from its teacher vector."""

    def __init__(self, teacher_dim: int, num_groups: int) -> None:
        super().__init__()
        self.linear = nn.Linear(teacher_dim, num_groups)

    def forward(self, teacher: Tensor) -> Tensor:
        """Teacher vectors (N, d_T) -> group probabilities (N, K)."""
        return torch.softmax(self.linear(teacher), dim=-1)


class GroupProjectors(nn.Module):
    """K two-layer projectors f_k: d_S -> (d_T + d_S) // 2 -> d_T; ``forward`` mixes them as Σ_k z_k f_k(s).

    Weights are initialised as ``nn.Linear`` does (uniform in ±1 / sqrt(fan_in), biases too).
    """

    def __init__(self, num_groups: int, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        hidden = (teacher_dim + student_dim) // 2
        self.num_groups, self.hidden = num_groups, hidden
        self.first = nn.Parameter(torch.empty(num_groups, student_dim, hidden))
        self.first_bias = nn.Parameter(torch.empty(num_groups, hidden))
        self.second = nn.Parameter(torch.empty(num_groups, hidden, teacher_dim))
        self.second_bias = nn.Parameter(torch.empty(num_groups, teacher_dim))
        for weight, bias, fan_in in (
            (self.first, self.first_bias, student_dim),
            (self.second, self.second_bias, hidden),
        ):
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(weight, -bound, bound)
            nn.init.uniform_(bias, -bound, bound)

    def project(self, student: Tensor) -> Tensor:
        """Every projector's output f_k(s) for student vectors (N, d_S) -> (N, K, d_T)."""
        hidden = torch.relu(torch.einsum("nd,kdh->nkh", student, self.first) + self.first_bias)
        return torch.einsum("nkh,kht->nkt", hidden, self.second) + self.second_bias

    def forward(self, student: Tensor, weights: Tensor) -> Tensor:
        """Σ_k z_k f_k(s) for student vectors (N, d_S) and mixing weights z (N, K) -> (N, d_T).

        Computed as one (N, K·h) x (K·h, d_T) product of the weighted hidden units, without the (N, K, d_T) tensor.
        """
        hidden = torch.relu(torch.einsum("nd,kdh->nkh", student, self.first) + self.first_bias)
        mixed = (hidden * weights.unsqueeze(-1)).reshape(len(student), -1)
        return mixed @ self.second.reshape(-1, self.second.shape[-1]) + weights @ self.second_bias
