"""Topology distillation losses for recommenders: full (FTD) and hierarchical (HTD) topology, group assignment.

Kang, Hwang, Kweon, Yu, "Topology Distillation for Recommender System", KDD 2021, arXiv 2106.08700; formulas as in
the official code (SeongKu-Kang/Topology_Distillation_KDD21, ``model.py``), docs/methods/htd.md. The topology of a
batch is the matrix of cosine similarities between its nodes (the batch's users and items, stacked).

FTD (full topology), over all ordered node pairs, a = b included::

    L_FTD = Σ_{a,b} (cos(t_a, t_b) − cos(s_a, s_b))²

HTD (hierarchical topology), with each node's group g(e) and the gradient-free prototypes P_t,k, P_s,k (the mean
teacher / student vector of group k's nodes in the batch)::

    L_ent   = Σ_{g(a) = g(b), cos(t_a, t_b) > 0} (cos(s_a, s_b) − cos(t_a, t_b))²
    L_group = Σ_{k, e} (cos(P_s,k, s_e) − cos(P_t,k, t_e))²          (group level P–e, the default)
            = Σ_{k, l} (cos(P_s,k, P_s,l) − cos(P_t,k, P_t,l))²       (group level P–P)

over the groups present in the batch. Group assignment (GA), with the assigner's probabilities v(t_e) over K groups,
Gumbel noise G and temperature τ annealed from 1 towards 1e-10::

    z_e  = softmax((log(v(t_e) + 1e-10) + G) / τ),   τ = max(1e-10, (1e-10)^(epoch / max_epoch))
    L_GA = Σ_e ‖t_e − Σ_k z_e,k f_k(s_e)‖²

Everything here works on plain tensors; the method owns the assigner v and the projectors f_k.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GroupLevel = Literal["p_e", "p_p"]

TEMPERATURE_FLOOR = 1e-10


def cosine_matrix(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarities of every row of ``a`` (N, D) with every row of ``b`` (M, D) -> (N, M); zero rows give 0."""
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T


def annealed_temperature(epoch: int, max_epoch: int, floor: float = TEMPERATURE_FLOOR) -> float:
    """τ = max(floor, floor^(epoch / max_epoch)): 1 at epoch 0, ``floor`` at ``max_epoch``."""
    return max(floor, floor ** (epoch / max(1, max_epoch)))


def gumbel_softmax(probabilities: Tensor, temperature: float, gumbel: Tensor) -> Tensor:
    """z = softmax((log(p + 1e-10) + G) / τ) along the last dimension, for Gumbel(0, 1) noise ``gumbel``."""
    return torch.softmax((torch.log(probabilities + 1e-10) + gumbel) / temperature, dim=-1)


def gumbel_noise(like: Tensor) -> Tensor:
    """Gumbel(0, 1) samples shaped like ``like`` (from the global generator, which the engine seeds per step)."""
    uniform = torch.rand_like(like).clamp_(min=1e-20, max=1.0 - 1e-7)
    return -torch.log(-torch.log(uniform))


class FullTopologyLoss(nn.Module):
    """FTD: Σ_{a,b} (cos t_ab − cos s_ab)² over all ordered pairs of a batch's nodes (its size grows with N²)."""

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        """Student vectors (N, d_S) and teacher vectors (N, d_T) of the same N nodes -> scalar."""
        return (cosine_matrix(teacher, teacher) - cosine_matrix(student, student)).pow(2).sum()


class TopologyTerms(NamedTuple):
    """HTD's two topology terms (unweighted sums)."""

    entity: Tensor
    group: Tensor


class HierarchicalTopologyLoss(nn.Module):
    """HTD's entity-level topology within groups and group-level topology between gradient-free prototypes.

    Args:
        group_level: ``p_e`` (prototype–entity similarities, the default) or ``p_p`` (prototype–prototype).
        positive_teacher_pairs_only: entity level over same-group pairs whose teacher cosine is positive (the
            official ``t_sim > 0`` selection); False: every same-group pair.
    """

    def __init__(self, group_level: GroupLevel = "p_e", positive_teacher_pairs_only: bool = True) -> None:
        super().__init__()
        if group_level not in ("p_e", "p_p"):
            raise ValueError(f"group_level must be 'p_e' or 'p_p', got {group_level!r}")
        self.group_level = group_level
        self.positive_teacher_pairs_only = positive_teacher_pairs_only

    def forward(self, student: Tensor, teacher: Tensor, groups: Tensor, num_groups: int) -> TopologyTerms:
        """Student (N, d_S) and teacher (N, d_T) vectors of N nodes, their group ids ``groups`` (N,) in
        ``[0, num_groups)`` -> the entity and group terms."""
        teacher_cos = cosine_matrix(teacher, teacher)
        same_group = groups.unsqueeze(0) == groups.unsqueeze(1)
        if self.positive_teacher_pairs_only:
            same_group = same_group & (teacher_cos > 0)
        entity = ((cosine_matrix(student, student) - teacher_cos).pow(2) * same_group).sum()

        members = F.one_hot(groups, num_groups).to(student.dtype)  # (N, G)
        counts = members.sum(0)
        present = counts > 0
        with torch.no_grad():
            weights = members.T / (counts.unsqueeze(1) + 1e-10)
            student_prototypes = weights @ student
            teacher_prototypes = weights @ teacher
        if self.group_level == "p_e":
            difference = cosine_matrix(student_prototypes, student) - cosine_matrix(teacher_prototypes, teacher)
            group = (difference.pow(2) * present.unsqueeze(1)).sum()
        else:
            difference = cosine_matrix(student_prototypes, student_prototypes) - cosine_matrix(
                teacher_prototypes, teacher_prototypes
            )
            group = (difference.pow(2) * (present.unsqueeze(0) & present.unsqueeze(1))).sum()
        return TopologyTerms(entity, group)


class GroupAssignmentLoss(nn.Module):
    """L_GA = Σ_e ‖t_e − r_e‖², r_e = Σ_k z_e,k f_k(s_e) the Gumbel-softmax mixture of the projected student."""

    def forward(self, teacher: Tensor, reconstruction: Tensor) -> Tensor:
        """Teacher vectors (N, d_T) and the student's projected mixture (N, d_T) -> scalar."""
        return (teacher - reconstruction).pow(2).sum()
