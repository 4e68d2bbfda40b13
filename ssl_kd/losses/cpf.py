"""CPF's distillation loss: the distance between the student's class distribution and the teacher GNN's.

Yang, Liu, Shi, "Extract the Knowledge of Graph Neural Networks and Go Beyond it: An Effective Knowledge
Distillation Framework", WWW 2021, arXiv 2103.02885 (docs/methods/cpf.md). Over the unlabelled nodes V_U, with
student scores f_v and teacher probabilities P_T,v::

    global_l2   (the authors' code):  L = sqrt( Σ_{v∈V_U} Σ_c (softmax(f_v)_c − P_T,vc)² )
    per_node_l2 (the paper's sum):    L = Σ_{v∈V_U} sqrt( Σ_c (softmax(f_v)_c − P_T,vc)² )

There is no hard-label term: the labelled nodes are clamped to their labels inside the student.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn


class CPFDistillationLoss(nn.Module):
    """L2 distance between softmax(student scores) and the teacher's probabilities, one global norm or per node.

    Args:
        distance: ``global_l2`` (one norm over every node and class) or ``per_node_l2`` (a norm per node, summed).
    """

    def __init__(self, distance: Literal["global_l2", "per_node_l2"] = "global_l2") -> None:
        super().__init__()
        if distance not in ("global_l2", "per_node_l2"):
            raise ValueError(f"distance must be global_l2 or per_node_l2, got {distance!r}")
        self.distance = distance

    def forward(self, student_scores: Tensor, teacher_probs: Tensor) -> Tensor:
        """``student_scores`` (M, C) raw scores, ``teacher_probs`` (M, C) probabilities -> scalar loss."""
        difference = torch.softmax(student_scores, dim=1) - teacher_probs
        if self.distance == "global_l2":
            return torch.linalg.vector_norm(difference)
        return torch.linalg.vector_norm(difference, dim=1).sum()
